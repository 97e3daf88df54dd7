package authorize

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/csv"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxImportFileSize bounds one certificate or CRL file: a bundle of a
// hundred thousand certificates is well under it, and reading a mistaken
// path (a disk image, a log) must not exhaust memory.
const maxImportFileSize = 256 << 20

// maxCSVSize bounds the representatives file: a line is under 200 bytes, so
// this allows for several hundred thousand representatives.
const maxCSVSize = 64 << 20

// reasonCertificateHold is the CRL reason of a suspended certificate.
const reasonCertificateHold = 6

// ImportResult counts what an import did. Refused items are listed with
// their file, line and reason; every other item is counted once as added,
// changed or unchanged.
type ImportResult struct {
	Added, Changed, Unchanged, Refused int
	Refusals                           []Refusal
}

// Refusal is one item an import left out, and why.
type Refusal struct {
	// File is the file the item came from; empty for a reader.
	File string
	// Line is the item's line in the file (the CSV line, or the line of a
	// PEM block), or 0 for a whole file or a DER file.
	Line int
	// Reason is an English sentence for the operator.
	Reason string
}

// String formats r as "file:line: reason", as compilers do.
func (r Refusal) String() string {
	var b strings.Builder
	b.WriteString(r.File)
	if r.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		} else {
			b.WriteString("line ")
		}
		fmt.Fprintf(&b, "%d", r.Line)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(r.Reason)
	return b.String()
}

func (res *ImportResult) count(c Change) {
	switch c {
	case Added:
		res.Added++
	case Changed:
		res.Changed++
	default:
		res.Unchanged++
	}
}

func (res *ImportResult) refuse(file string, line int, format string, args ...any) {
	res.Refused++
	res.Refusals = append(res.Refusals, Refusal{File: file, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// ImportCertificates registers the certificates in paths: PEM files (any
// number of CERTIFICATE blocks; other blocks are ignored), DER files (one or
// more concatenated certificates), and folders, walked recursively (files
// and folders whose names start with a dot are skipped). A certificate
// listed on one of the CRL files in crlPaths (PEM or DER, matched by issuer
// and serial) is registered as revoked; a suspension (certificateHold) is
// not a revocation and is ignored.
//
// Importing the same files twice changes nothing. CA certificates, files
// holding no certificate, and a certificate whose issuer and serial are
// registered with another fingerprint are refused and listed. The error is
// for what stops the import: a path or CRL that cannot be read, a store
// failure.
//
// The CRL signatures are not checked: the files come from the operator.
func ImportCertificates(ctx context.Context, w RegistryWriter, paths, crlPaths []string) (ImportResult, error) {
	var res ImportResult
	revoked, err := loadCRLs(crlPaths)
	if err != nil {
		return res, err
	}
	files, err := certificateFiles(paths)
	if err != nil {
		return res, err
	}
	for _, file := range files {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		data, err := readFileLimited(file, maxImportFileSize)
		if errors.Is(err, errTooLarge) {
			res.refuse(file, 0, "larger than %d MiB, not a certificate file", maxImportFileSize>>20)
			continue
		}
		if err != nil {
			return res, err
		}
		found := parseCertificates(data)
		if len(found) == 0 {
			res.refuse(file, 0, "no certificate found")
			continue
		}
		for _, p := range found {
			if p.err != nil {
				res.refuse(file, p.line, "%v", p.err)
				continue
			}
			c := p.cert
			if c.BasicConstraintsValid && c.IsCA {
				res.refuse(file, p.line, "CA certificate %q is not a holder's certificate", c.Subject.String())
				continue
			}
			rec := CertificateFromX509(c)
			if at, ok := revoked[crlKey(c.RawIssuer, FormatSerial(c.SerialNumber))]; ok {
				rec.Revoked, rec.RevokedAt = true, at.UTC()
			}
			ch, err := w.UpsertCertificate(ctx, rec)
			if errors.Is(err, ErrConflict) {
				res.refuse(file, p.line, "serial %s of %q: %v", FormatSerial(rec.Serial), rec.IssuerDN, err)
				continue
			}
			if err != nil {
				return res, fmt.Errorf("registering serial %s from %s: %w", FormatSerial(rec.Serial), file, err)
			}
			res.count(ch)
		}
	}
	return res, nil
}

// certificateFiles lists the files that paths name, folders expanded.
func certificateFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				files = append(files, path)
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				// Linked files count; linked folders are not followed, so
				// that a loop of links cannot make the walk endless.
				if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
					files = append(files, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

var errTooLarge = errors.New("file too large")

func readFileLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

type parsedCertificate struct {
	line int
	cert *x509.Certificate
	err  error
}

// parseCertificates reads the certificates of a PEM or DER file.
func parseCertificates(data []byte) []parsedCertificate {
	var out []parsedCertificate
	if !bytes.Contains(data, []byte("-----BEGIN ")) {
		certs, err := x509.ParseCertificates(data)
		if err != nil {
			return []parsedCertificate{{err: fmt.Errorf("no certificate found (neither PEM nor DER: %v)", err)}}
		}
		for _, c := range certs {
			out = append(out, parsedCertificate{cert: c})
		}
		return out
	}
	forEachPEM(data, func(line int, b *pem.Block) {
		if b.Type != "CERTIFICATE" {
			return
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			out = append(out, parsedCertificate{line: line, err: fmt.Errorf("unreadable certificate: %v", err)})
			return
		}
		out = append(out, parsedCertificate{line: line, cert: c})
	})
	return out
}

// forEachPEM calls fn with every PEM block of data and the line it starts on.
func forEachPEM(data []byte, fn func(line int, b *pem.Block)) {
	rest := data
	for {
		start := bytes.Index(rest, []byte("-----BEGIN "))
		if start < 0 {
			return
		}
		b, next := pem.Decode(rest[start:])
		if b == nil {
			// Not a block after all (a truncated or corrupted one): look
			// for the next one.
			rest = rest[start+len("-----BEGIN "):]
			continue
		}
		// pem.Decode skips a corrupted block and returns the next good
		// one: that one starts at the last BEGIN line it consumed.
		consumed := rest[:len(rest)-len(next)]
		offset := len(data) - len(rest) + bytes.LastIndex(consumed, []byte("-----BEGIN "))
		fn(1+bytes.Count(data[:offset], []byte("\n")), b)
		rest = next
	}
}

func crlKey(rawIssuer []byte, serial string) string {
	return string(rawIssuer) + "|" + serial
}

// loadCRLs reads the CRL files and returns the revocation time of each
// listed certificate, keyed by crlKey.
func loadCRLs(paths []string) (map[string]time.Time, error) {
	revoked := make(map[string]time.Time)
	for _, p := range paths {
		data, err := readFileLimited(p, maxImportFileSize)
		if err != nil {
			return nil, fmt.Errorf("reading CRL %s: %w", p, err)
		}
		var ders [][]byte
		if bytes.Contains(data, []byte("-----BEGIN ")) {
			forEachPEM(data, func(_ int, b *pem.Block) {
				if b.Type == "X509 CRL" {
					ders = append(ders, b.Bytes)
				}
			})
			if len(ders) == 0 {
				return nil, fmt.Errorf("reading CRL %s: no X509 CRL block", p)
			}
		} else {
			ders = [][]byte{data}
		}
		for _, der := range ders {
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				return nil, fmt.Errorf("reading CRL %s: %w", p, err)
			}
			for _, e := range crl.RevokedCertificateEntries {
				// QUIRK: a suspended certificate is listed on the CRL but
				// may come back; for a request to revoke it, it is not
				// revoked yet.
				if e.ReasonCode == reasonCertificateHold {
					continue
				}
				k := crlKey(crl.RawIssuer, FormatSerial(e.SerialNumber))
				if old, ok := revoked[k]; !ok || e.RevocationTime.Before(old) {
					revoked[k] = e.RevocationTime
				}
			}
		}
	}
	return revoked, nil
}

// representativeColumns are the columns the CSV header must name.
var representativeColumns = []string{"siren", "surname", "given_name", "email", "valid_from", "valid_to"}

// ImportRepresentatives registers the legal representatives listed in r, a
// CSV file whose header names the columns siren, surname, given_name,
// email, valid_from and valid_to, in any order and in any case, among any
// others (which are ignored). Dates are YYYY-MM-DD, calendar days in
// France; an empty valid_to means still in office. The separator is a comma,
// or a semicolon when the header has semicolons and no comma (as French
// spreadsheets write CSV); a UTF-8 byte-order mark is skipped.
//
// A line is refused, with its number and the reason, when its SIREN is not
// 9 digits passing the Luhn check, a name is empty, the e-mail is not a
// bare address, or a date does not read or ends before it starts. Importing
// the same file twice changes nothing. The error is for a file that cannot
// be read as CSV with that header, or a store failure.
func ImportRepresentatives(ctx context.Context, w RegistryWriter, r io.Reader) (ImportResult, error) {
	var res ImportResult
	data, err := io.ReadAll(io.LimitReader(r, maxCSVSize+1))
	if err != nil {
		return res, fmt.Errorf("reading representatives: %w", err)
	}
	if len(data) > maxCSVSize {
		return res, fmt.Errorf("representatives file is larger than %d MiB", maxCSVSize>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	cr := csv.NewReader(bytes.NewReader(data))
	firstLine, _, _ := bytes.Cut(data, []byte("\n"))
	if bytes.Contains(firstLine, []byte(";")) && !bytes.Contains(firstLine, []byte(",")) {
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return res, fmt.Errorf("reading the CSV header: %w", err)
	}
	col := make(map[string]int)
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[name]; dup && name != "" {
			return res, fmt.Errorf("CSV header names column %q twice", name)
		}
		col[name] = i
	}
	width := 0
	for _, name := range representativeColumns {
		i, ok := col[name]
		if !ok {
			return res, fmt.Errorf("CSV header has no column %q (want %s)", name, strings.Join(representativeColumns, ","))
		}
		width = max(width, i+1)
	}

	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			res.refuse("", perr.Line, "%v", perr.Err)
			continue
		}
		if err != nil {
			return res, fmt.Errorf("reading representatives: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if blank(rec) {
			continue
		}
		if len(rec) < width {
			res.refuse("", line, "%d fields, the header has %d", len(rec), len(header))
			continue
		}
		get := func(name string) string { return strings.TrimSpace(rec[col[name]]) }
		rep, reason := parseRepresentative(get)
		if reason != "" {
			res.refuse("", line, "%s", reason)
			continue
		}
		ch, err := w.UpsertRepresentative(ctx, rep)
		if err != nil {
			return res, fmt.Errorf("registering the representative of line %d: %w", line, err)
		}
		res.count(ch)
	}
	return res, nil
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// parseRepresentative reads one CSV line, or says why it is refused.
func parseRepresentative(get func(string) string) (Representative, string) {
	siren := strings.ReplaceAll(get("siren"), " ", "")
	switch {
	case len(siren) != 9 || !allDigits(siren):
		return Representative{}, fmt.Sprintf("SIREN %q is not 9 digits", get("siren"))
	case !ValidSIREN(siren):
		return Representative{}, fmt.Sprintf("SIREN %s fails the Luhn check (mistyped?)", siren)
	}
	r := Representative{SIREN: siren, Surname: get("surname"), GivenName: get("given_name"), Email: get("email")}
	if r.Surname == "" || r.GivenName == "" {
		return Representative{}, "surname and given_name are required"
	}
	if a, err := mail.ParseAddress(r.Email); err != nil || a.Address != r.Email || a.Name != "" {
		return Representative{}, fmt.Sprintf("e-mail %q is not a bare address", r.Email)
	}
	var err error
	if r.ValidFrom, err = ParseDate(get("valid_from")); err != nil {
		return Representative{}, fmt.Sprintf("valid_from %q is not a date (YYYY-MM-DD)", get("valid_from"))
	}
	if s := get("valid_to"); s != "" {
		end, err := ParseDate(s)
		if err != nil {
			return Representative{}, fmt.Sprintf("valid_to %q is not a date (YYYY-MM-DD)", s)
		}
		if end.Before(r.ValidFrom) {
			return Representative{}, fmt.Sprintf("valid_to %s is before valid_from %s", s, get("valid_from"))
		}
		r.ValidTo = &end
	}
	return r, ""
}
