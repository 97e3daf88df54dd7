package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/pdfverify"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// attachmentReport is the verification of one PDF of a mail.
type attachmentReport struct {
	FileName string            `json:"fileName"`
	Path     string            `json:"path"`
	Report   *pdfverify.Report `json:"report"`
}

// mailReport is `revokd verify --json` for an .eml: the report of the PDF
// that decided, with every PDF's report beside it.
type mailReport struct {
	*pdfverify.Report
	Attachments []attachmentReport `json:"attachments"`
	// SMIME and Unopened are the mail's S/MIME layers opened and parts
	// not read (encrypted without a key, winmail.dat, archives refused):
	// evidence, not part of the decision.
	SMIME    []ingest.SMIMELayer `json:"smime,omitempty"`
	Unopened []ingest.Unopened   `json:"unopened,omitempty"`
}

// verifyMemoryLimit bounds the heap of a one-shot verification, which
// otherwise runs without collecting garbage: a file of at most
// verify.max_file_bytes needs a few times its size, and a short-lived
// process saves the collector's start-up and its threads.
const verifyMemoryLimit = 512 << 20

func cmdVerify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(verifyMemoryLimit)
	fs := newFlagSet("verify", stdout, stderr)
	configPath := fs.String("config", "", "configuration `file` (revokd.toml)")
	var trust, policies multiFlag
	fs.Var(&trust, "trust", "PEM `bundle` of trust anchors (repeatable; replaces trust.roots)")
	fs.Var(&policies, "policy", "accepted policy `OID` (repeatable; replaces trust.policies)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "list every check")
	offline := fs.Bool("offline", false, "do not fetch CRLs or OCSP responses")
	crlDir := fs.String("crl-dir", "", "`folder` of CRL files to consult (replaces trust.crl_dir)")
	at := fs.String("time", "", "validation `time` (RFC 3339) when no timestamp proves one; default now")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "revokd: verify takes exactly one FILE.pdf, FILE.eml or - (standard input)")
		return exitUsage
	}
	path := fs.Arg(0)
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "revokd:", err)
		return exitUsage
	}
	if len(trust) > 0 {
		cfg.Trust.Roots = trust
	}
	if len(policies) > 0 {
		cfg.Trust.Policies = policies
	}
	if *crlDir != "" {
		cfg.Trust.CRLDir = *crlDir
	}
	opts, err := verifyOptions(cfg, !*offline)
	if err != nil {
		fmt.Fprintln(stderr, "revokd:", err)
		return exitUsage
	}
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			fmt.Fprintf(stderr, "revokd: --time %q: %v\n", *at, err)
			return exitUsage
		}
		opts.CurrentTime = t
	}

	var (
		src    io.Reader
		file   *os.File
		isMail = strings.EqualFold(filepath.Ext(path), ".eml")
	)
	if path == "-" {
		// A pipe: read it whole (bounded), and tell a PDF from a mail by
		// its header, which PDF readers look for in the first kilobyte.
		data, err := io.ReadAll(io.LimitReader(stdin, ingest.DefaultMaxMessageBytes+1))
		if err != nil {
			fmt.Fprintln(stderr, "revokd: reading standard input:", err)
			return exitUsage
		}
		if int64(len(data)) > ingest.DefaultMaxMessageBytes {
			fmt.Fprintf(stderr, "revokd: standard input is larger than %d bytes\n", ingest.DefaultMaxMessageBytes)
			return exitUsage
		}
		isMail = !bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-"))
		src = bytes.NewReader(data)
	} else {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(stderr, "revokd:", err)
			return exitUsage
		}
		defer f.Close()
		src, file = f, f
	}
	var out any
	var decisive *pdfverify.Report
	if isMail {
		dec, err := smimeDecrypter(cfg)
		if err != nil {
			fmt.Fprintln(stderr, "revokd:", err)
			return exitUsage
		}
		mr, err := verifyMail(ctx, src, opts, dec)
		if err != nil {
			fmt.Fprintln(stderr, "revokd:", err)
			return exitUsage
		}
		out, decisive = mr, mr.Report
		if !*asJSON {
			printMail(stdout, mr, *verbose)
		}
	} else {
		rep, release, err := verifyPDF(ctx, file, src, opts)
		if err != nil {
			fmt.Fprintln(stderr, "revokd:", err)
			return exitUsage
		}
		defer release()
		out, decisive = rep, rep
		if !*asJSON {
			printReport(stdout, rep, "", *verbose)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(stderr, "revokd:", err)
			return exitUsage
		}
	}
	if decisive.Accepted() {
		return exitOK
	}
	return exitRejected
}

// verifyOptions turns the configuration into verifier options.
func verifyOptions(cfg *Config, online bool) (*pdfverify.Options, error) {
	roots, err := loadRoots(cfg.Trust.Roots)
	if err != nil {
		return nil, err
	}
	if cfg.Trust.Online != nil && !*cfg.Trust.Online {
		online = false
	}
	algorithms, key, err := cfg.algorithmTable()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	o := &pdfverify.Options{
		Roots:        roots,
		Policies:     cfg.Trust.Policies,
		Algorithms:   algorithms,
		MaxFileBytes: cfg.Verify.MaxFileBytes,
		TimeBudget:   cfg.Verify.TimeBudget.Duration,
		Revocation: pdfverify.NewRevocationSource(pdfverify.RevocationOptions{
			CRLDir:  cfg.Trust.CRLDir,
			Online:  online,
			Timeout: cfg.Trust.FetchTimeout.Duration,
		}),
	}
	for _, p := range o.Policies {
		if _, err := pdfverify.ParseOID(p); err != nil {
			return nil, fmt.Errorf("policy %q: %w", p, err)
		}
	}
	return o, nil
}

// loadRoots reads PEM bundles of trust anchors; nil paths give a nil pool
// (nothing trusted).
func loadRoots(paths []string) (*x509.CertPool, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	certs, err := loadCertificates(paths)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// loadCertificates reads every certificate of the PEM files at paths; a
// file without one is an error.
func loadCertificates(paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading certificates: %w", err)
		}
		n := 0
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: certificate %d: %w", p, n+1, err)
			}
			out = append(out, c)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: no PEM certificate found", p)
		}
	}
	return out, nil
}

// verifyPDF verifies the PDF in f. The report may share memory with the
// file's mapping, so release is called only once the report is no longer
// used.
func verifyPDF(ctx context.Context, f *os.File, r io.Reader, opts *pdfverify.Options) (rep *pdfverify.Report, release func(), err error) {
	var data []byte
	if f != nil {
		data, release, err = readPDF(f, opts.MaxFileBytes)
	} else {
		data, err = pdfverify.ReadAll(r, opts.MaxFileBytes)
		release = func() {}
	}
	if errors.Is(err, pdfverify.ErrTooLarge) {
		return pdfverify.FormatFailureReport("the file is larger than the "+fmt.Sprint(opts.MaxFileBytes)+"-byte limit", opts.MaxFileBytes+1), func() {}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading PDF: %w", err)
	}
	rep, err = pdfverify.Verify(ctx, data, opts)
	if err != nil {
		release()
		return nil, nil, err
	}
	return rep, release, nil
}

func verifyMail(ctx context.Context, r io.Reader, opts *pdfverify.Options, dec *ingest.Decrypter) (*mailReport, error) {
	msg, err := ingest.ParseMessageWith(r, ingest.Options{Limits: ingest.Limits{MaxAttachmentBytes: opts.MaxFileBytes}, Decrypter: dec})
	if err != nil {
		if errors.Is(err, ingest.ErrTooLarge) || errors.Is(err, ingest.ErrTooDeep) || errors.Is(err, ingest.ErrTooManyParts) {
			return &mailReport{Report: pdfverify.FormatFailureReport("the mail cannot be read: "+err.Error(), 0), Attachments: []attachmentReport{}}, nil
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, err
		}
		return &mailReport{Report: pdfverify.FormatFailureReport("the mail cannot be read: "+err.Error(), 0), Attachments: []attachmentReport{}}, nil
	}
	mr := &mailReport{Attachments: []attachmentReport{}, SMIME: msg.SMIME, Unopened: msg.Unopened}
	for _, a := range msg.Attachments {
		var rep *pdfverify.Report
		if a.Err != nil {
			rep = pdfverify.FormatFailureReport("the attachment cannot be decoded: "+a.Err.Error(), int64(len(a.Data)))
		} else {
			rep, err = pdfverify.Verify(ctx, a.Data, opts)
			if err != nil {
				return nil, err
			}
		}
		mr.Attachments = append(mr.Attachments, attachmentReport{FileName: a.FileName, Path: a.Path, Report: rep})
		if mr.Report == nil || (!mr.Report.Accepted() && rep.Accepted()) {
			mr.Report = rep
		}
	}
	if mr.Report == nil {
		why := "the mail carries no PDF"
		if len(msg.Unopened) > 0 {
			why += "; part " + msg.Unopened[0].Path + " not read: " + msg.Unopened[0].Reason
		}
		mr.Report = pdfverify.FormatFailureReport(why, 0)
	}
	return mr, nil
}

func printMail(w io.Writer, mr *mailReport, verbose bool) {
	for _, l := range mr.SMIME {
		line := fmt.Sprintf("S/MIME %s at part %s", l.Kind, l.Path)
		if l.Signer != nil {
			line += fmt.Sprintf(": signer %q serial %s", l.Signer.Subject, l.Signer.SerialNumber)
		}
		if l.Kind != ingest.SMIMEEncrypted {
			if l.SignatureValid {
				line += ", signature valid (certificate not chained; evidence only)"
			} else {
				line += ", signature NOT valid: " + l.SignatureError
			}
		}
		fmt.Fprintln(w, line)
	}
	for _, u := range mr.Unopened {
		fmt.Fprintf(w, "not read: part %s %q (%s): %s\n", u.Path, u.FileName, u.Kind, u.Reason)
	}
	if len(mr.Attachments) == 0 {
		printReport(w, mr.Report, "", verbose)
		return
	}
	verdict := "REJECTED"
	if mr.Report.Accepted() {
		verdict = "ACCEPTED"
	}
	fmt.Fprintf(w, "%s  mail with %d PDF(s)\n", verdict, len(mr.Attachments))
	for _, a := range mr.Attachments {
		name := a.FileName
		if name == "" {
			name = "(part " + a.Path + ")"
		}
		printReport(w, a.Report, name, verbose)
	}
}

// printReport writes what an operator reads on a terminal: the verdict and
// its reason first, then one line per signature.
func printReport(w io.Writer, r *pdfverify.Report, name string, verbose bool) {
	var b bytes.Buffer
	verdict := "REJECTED"
	if r.Accepted() {
		verdict = "ACCEPTED"
	}
	if name != "" {
		fmt.Fprintf(&b, "%s: ", name)
	}
	ind := string(r.Indication)
	if r.SubIndication != "" {
		ind += "/" + string(r.SubIndication)
	}
	fmt.Fprintf(&b, "%s  %s: %s\n", verdict, ind, r.Reason)
	for _, s := range r.Signatures {
		line := fmt.Sprintf("  signature %q: %s", s.FieldName, s.Indication)
		if s.SubIndication != "" {
			line += "/" + string(s.SubIndication)
		}
		if s.Signer != nil {
			line += fmt.Sprintf("  signer %q serial %s", s.Signer.Subject, s.Signer.SerialNumber)
			if len(s.PolicyOIDs) > 0 {
				line += "  policy " + strings.Join(s.PolicyOIDs, ",")
			}
		}
		if s.TimestampTime != nil {
			line += "  timestamp " + s.TimestampTime.UTC().Format(time.RFC3339)
		} else if s.SigningTime != nil {
			line += "  claimed " + s.SigningTime.UTC().Format(time.RFC3339)
		}
		fmt.Fprintln(&b, line)
		if verbose {
			for _, c := range s.Checks {
				fmt.Fprintf(&b, "    %-7s %s: %s\n", c.Outcome, c.Name, c.Detail)
			}
		}
	}
	if verbose {
		for _, c := range r.Checks {
			fmt.Fprintf(&b, "  %-7s %s: %s\n", c.Outcome, c.Name, c.Detail)
		}
		for _, k := range slices.Sorted(maps.Keys(r.Form)) {
			fmt.Fprintf(&b, "  form %s = %q\n", k, r.Form[k])
		}
	}
	w.Write(b.Bytes())
}
