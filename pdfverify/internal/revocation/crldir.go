package revocation

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// maxDirFiles bounds how many files of CRLDir are read: an operator's
// folder holds one CRL per CA, a few dozen at most; a folder with more is
// a mistake that must not make every check read thousands of files.
const maxDirFiles = 1000

// dirFile is one cached file of CRLDir.
type dirFile struct {
	modTime time.Time
	size    int64
	crls    []*x509.RevocationList
	err     string // why the file holds no usable CRL
}

// namedCRL is a CRL with the file it came from.
type namedCRL struct {
	name string
	crl  *x509.RevocationList
}

// dirCRLs returns the CRLs of CRLDir whose issuer name is issuer's subject,
// re-reading the files whose size or modification time changed, with one
// message per unreadable file.
func (c *Checker) dirCRLs(issuer *x509.Certificate) ([]namedCRL, []string) {
	entries, err := os.ReadDir(c.CRLDir)
	if err != nil {
		return nil, []string{fmt.Sprintf("CRL folder cannot be read: %v", err)}
	}
	var errs []string
	if len(entries) > maxDirFiles {
		errs = append(errs, fmt.Sprintf("CRL folder %s holds %d entries; only the first %d are read", c.CRLDir, len(entries), maxDirFiles))
		entries = entries[:maxDirFiles]
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirCache == nil {
		c.dirCache = map[string]dirFile{}
	}
	seen := map[string]bool{}
	var out []namedCRL
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed since ReadDir
		}
		name := e.Name()
		seen[name] = true
		f, ok := c.dirCache[name]
		if !ok || !f.modTime.Equal(info.ModTime()) || f.size != info.Size() {
			f = c.readDirFile(filepath.Join(c.CRLDir, name), info)
			c.dirCache[name] = f
		}
		if f.err != "" {
			errs = append(errs, fmt.Sprintf("CRL file %s: %s", name, f.err))
			continue
		}
		for _, rl := range f.crls {
			if bytes.Equal(rl.RawIssuer, issuer.RawSubject) {
				out = append(out, namedCRL{name: name, crl: rl})
			}
		}
	}
	for name := range c.dirCache {
		if !seen[name] {
			delete(c.dirCache, name)
		}
	}
	// Newest first: the most recent CRL is the most likely to decide.
	sort.SliceStable(out, func(i, j int) bool { return out[i].crl.ThisUpdate.After(out[j].crl.ThisUpdate) })
	return out, errs
}

// readDirFile reads the CRLs of one file: DER, or PEM with one or more
// X509 CRL blocks.
func (c *Checker) readDirFile(path string, info os.FileInfo) dirFile {
	f := dirFile{modTime: info.ModTime(), size: info.Size()}
	limit := c.maxCRLBytes()
	if info.Size() > limit {
		f.err = fmt.Sprintf("%d bytes exceeds the limit of %d", info.Size(), limit)
		return f
	}
	fh, err := os.Open(path)
	if err != nil {
		f.err = err.Error()
		return f
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		f.err = err.Error()
		return f
	}
	if int64(len(data)) > limit {
		f.err = fmt.Sprintf("exceeds the limit of %d bytes", limit)
		return f
	}
	if block, rest := pem.Decode(data); block != nil {
		for ; block != nil; block, rest = pem.Decode(rest) {
			if block.Type != "X509 CRL" {
				continue
			}
			rl, err := x509.ParseRevocationList(block.Bytes)
			if err != nil {
				f.err = "a PEM block does not parse: " + err.Error()
				return f
			}
			f.crls = append(f.crls, rl)
		}
		if len(f.crls) == 0 {
			f.err = "no X509 CRL PEM block"
		}
		return f
	}
	rl, err := x509.ParseRevocationList(data)
	if err != nil {
		f.err = "does not parse as a CRL: " + err.Error()
		return f
	}
	f.crls = []*x509.RevocationList{rl}
	return f
}
