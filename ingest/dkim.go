package ingest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM results, as RFC 8601 names them.
const (
	DKIMPass      = "pass"
	DKIMFail      = "fail"
	DKIMTempError = "temperror"
	DKIMPermError = "permerror"
)

// maxDKIMSignatures bounds the signatures verified in one mail: each costs
// a DNS query and a pass over the body. A mailing list adds one or two to
// the author's; more is noise.
const maxDKIMSignatures = 5

// dkimLookupTimeout bounds one DNS query for a DKIM key, so that a slow
// or hostile name server cannot hold the mailbox.
const dkimLookupTimeout = 5 * time.Second

// DKIMResult is one DKIM signature of a mail, verified (RFC 6376). It is
// evidence shown to operators, never a reason to accept or refuse a
// request: DKIM says which domain sent the mail, not who signed the form.
type DKIMResult struct {
	// Domain is the signing domain (d=), Identifier the agent (i=).
	Domain     string `json:"domain"`
	Identifier string `json:"identifier,omitempty"`
	// HeaderKeys are the header fields the signature covers.
	HeaderKeys []string `json:"headerKeys,omitempty"`
	// Result is DKIMPass, DKIMFail, DKIMTempError or DKIMPermError.
	Result string `json:"result"`
	// Error says why Result is not pass.
	Error string `json:"error,omitempty"`
}

// LookupTXT returns the TXT records of a DNS name.
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// VerifyDKIM verifies the DKIM signatures of a raw message, at most five,
// with lookup for the keys (nil: the system resolver, each query bounded
// to five seconds). A mail without signatures gives nil.
func VerifyDKIM(ctx context.Context, raw []byte, lookup LookupTXT) []DKIMResult {
	if h, _, err := readHeader(bytes.NewReader(raw)); err != nil || !h.Has("Dkim-Signature") {
		return nil
	}
	if lookup == nil {
		lookup = net.DefaultResolver.LookupTXT
	}
	opts := &dkim.VerifyOptions{
		MaxVerifications: maxDKIMSignatures,
		LookupTXT: func(name string) ([]string, error) {
			ctx, cancel := context.WithTimeout(ctx, dkimLookupTimeout)
			defer cancel()
			return lookup(ctx, name)
		},
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), opts)
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return []DKIMResult{{Result: DKIMPermError, Error: err.Error()}}
	}
	var out []DKIMResult
	for _, v := range verifs {
		r := DKIMResult{Domain: v.Domain, Identifier: v.Identifier, HeaderKeys: v.HeaderKeys, Result: DKIMPass}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			r.Result, r.Error = DKIMTempError, v.Err.Error()
		case dkim.IsPermFail(v.Err):
			r.Result, r.Error = DKIMPermError, v.Err.Error()
		default:
			r.Result, r.Error = DKIMFail, v.Err.Error()
		}
		out = append(out, r)
	}
	return out
}

// Evidence is what a mail says about its origin beyond its PDFs, kept with
// the mail for operators (the store holds it as JSON). None of it is a
// reason to accept or refuse a request: the signed PDF alone is.
type Evidence struct {
	// FromDecoding and FromRaw are Header's: how the sender's address was
	// read, and the raw From field when it was read leniently.
	FromDecoding string `json:"fromDecoding,omitempty"`
	FromRaw      []byte `json:"fromRaw,omitempty"`
	// AuthenticationResults are the Authentication-Results fields, the
	// topmost first: only those the desk's receiving server added are
	// its word, the others are the sender's.
	AuthenticationResults []string `json:"authenticationResults,omitempty"`
	// DKIM holds the DKIM signatures verified by revokd itself.
	DKIM []DKIMResult `json:"dkim,omitempty"`
	// SMIME holds the opaque S/MIME layers opened, outermost first.
	SMIME []SMIMELayer `json:"smime,omitempty"`
	// Unopened lists the parts that could not be read.
	Unopened []Unopened `json:"unopened,omitempty"`
}

// Empty reports whether e holds nothing worth keeping.
func (e *Evidence) Empty() bool {
	return e.FromDecoding == "" && len(e.FromRaw) == 0 && len(e.AuthenticationResults) == 0 &&
		len(e.DKIM) == 0 && len(e.SMIME) == 0 && len(e.Unopened) == 0
}
