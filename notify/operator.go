package notify

import (
	"fmt"
	"strings"
	"sync"

	"github.com/revokd/revokd/authorize"
)

var (
	defaultOnce sync.Once
	embedded    *Templates
)

func embeddedTemplates() *Templates {
	defaultOnce.Do(func() { embedded = DefaultTemplates() })
	return embedded
}

// OperatorSummary is one English line for the operators' list (the
// request's `reason`): what the sender is told, then the facts behind
// it, registry values included, which only operators see.
func OperatorSummary(d authorize.Decision) string {
	serial := ""
	if d.Serial != nil {
		serial = authorize.FormatSerial(d.Serial)
	}
	it := Item{Code: d.Code, Serial: serial, Facts: d.Facts}
	s, err := embeddedTemplates().exec("en", "reason/"+string(codeOrUnspecified(d.Code)), it)
	if err != nil {
		s = string(d.Code)
	}
	parts := []string{strings.TrimSuffix(strings.TrimSpace(s), ".")}
	for _, f := range d.Facts {
		p := fmt.Sprintf("%s %q", f.FormField, f.Value)
		if f.Registry != "" {
			p += fmt.Sprintf(" (registry %q)", f.Registry)
		}
		parts = append(parts, p)
	}
	if d.IssuerDN != "" && !d.Accepted() {
		parts = append(parts, "issuer "+d.IssuerDN)
	}
	if d.Signer != nil {
		parts = append(parts, fmt.Sprintf("signer %q serial %s", d.Signer.Subject, d.Signer.Serial))
	}
	if d.Role != "" {
		parts = append(parts, "as "+d.Role)
	}
	if d.SIREN != "" {
		parts = append(parts, "SIREN "+d.SIREN)
	}
	if d.Representative != nil && d.Code == authorize.CodeMandateExpired {
		r := d.Representative
		to := "(open)"
		if r.ValidTo != nil {
			to = r.ValidTo.Format("2006-01-02")
		}
		parts = append(parts, fmt.Sprintf("mandate %s to %s, signature validated at %s", r.ValidFrom.Format("2006-01-02"), to,
			d.ValidationTime.UTC().Format("2006-01-02T15:04:05Z")))
	}
	if d.Candidates > 0 {
		parts = append(parts, fmt.Sprintf("%d certificates share the serial", d.Candidates))
	}
	if d.Cause != "" {
		parts = append(parts, "cause "+string(d.Cause))
	}
	if d.CauseError != "" {
		parts = append(parts, d.CauseError)
	}
	return strings.Join(parts, "; ")
}
