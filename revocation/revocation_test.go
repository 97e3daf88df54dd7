package revocation

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReasonString(t *testing.T) {
	tests := []struct {
		r    Reason
		want string
	}{
		{Unspecified, "unspecified"},
		{KeyCompromise, "keyCompromise"},
		{AffiliationChanged, "affiliationChanged"},
		{Superseded, "superseded"},
		{CessationOfOperation, "cessationOfOperation"},
		{PrivilegeWithdrawn, "privilegeWithdrawn"},
		{AACompromise, "aACompromise"},
		{Reason(7), "reason(7)"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("Reason(%d).String() = %q, want %q", int(tt.r), got, tt.want)
		}
	}
}

func TestParseReason(t *testing.T) {
	for _, r := range Reasons() {
		got, err := ParseReason(strings.ToUpper(r.String()))
		if err != nil || got != r {
			t.Errorf("ParseReason(%q) = %v, %v, want %v", strings.ToUpper(r.String()), got, err, r)
		}
	}
	if _, err := ParseReason("reason(7)"); err == nil {
		t.Errorf("ParseReason(%q) succeeded, want an error", "reason(7)")
	}
	if Reason(7).Valid() {
		t.Errorf("Reason(7).Valid() = true, want false")
	}
}

func TestParseState(t *testing.T) {
	for _, s := range States() {
		got, err := ParseState(string(s))
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %q, %v, want %q", s, got, err, s)
		}
	}
	if _, err := ParseState("Accepted"); err == nil {
		t.Errorf("ParseState(%q) succeeded, want an error: states are spelled exactly", "Accepted")
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Jean-François  D’Arc", "jean francois d arc"},
		{"JEAN FRANCOIS D'ARC", "jean francois d arc"},
		{" jean\u00a0francois\u202fd arc ", "jean francois d arc"},
		{"Lætitia Œdipe", "laetitia oedipe"},
		{"Zoë\u00adÉlodie", "zoeelodie"},
		{"Müller–Lüdenscheidt", "muller ludenscheidt"},
		{"--'", ""},
		{"", ""},
		{"Ｄｕｐｏｎｔ", "dupont"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseFrenchReason(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   Reason
		noCode bool
	}{
		{"ok/key-compromise", "Clé privée compromise", KeyCompromise, false},
		{"ok/key-compromise-no-accents", "cle privee compromise", KeyCompromise, false},
		{"ok/key-compromise-upper", "CLÉ PRIVÉE COMPROMISE", KeyCompromise, false},
		{"ok/key-compromise-spaces", "  Clé   privée\tcompromise  ", KeyCompromise, false},
		{"ok/key-compromise-clef", "Clef privée compromise.", KeyCompromise, false},
		{"ok/key-compromise-decomposed", "Cle\u0301 prive\u0301e compromise", KeyCompromise, false},
		{"ok/update", "Mise à jour des informations du titulaire", AffiliationChanged, false},
		{"ok/update-no-accent", "mise a jour des informations du titulaire", AffiliationChanged, false},
		{"ok/departure", "Départ ou mutation du titulaire", AffiliationChanged, false},
		{"ok/replacement", "Remplacement du certificat", Superseded, false},
		{"ok/wrong-name", "Nom incorrect", Superseded, false},
		{"ok/key-size", "Mauvaise taille des clés", Superseded, false},
		{"ok/key-size-clefs", "mauvaise taille des clefs", Superseded, false},
		{"ok/defective", "Certificat défectueux", Superseded, false},
		{"ok/overwrite", "Ecrasement des anciennes clés", Superseded, false},
		{"ok/overwrite-accent", "Écrasement des anciennes clés", Superseded, false},
		{"ok/password", "Oubli ou perte du mot de passe", CessationOfOperation, false},
		{"ok/non-payment", "Non paiement", PrivilegeWithdrawn, false},
		{"ok/non-payment-hyphen", "Non-paiement", PrivilegeWithdrawn, false},
		{"ok/holder-request", "Demande du titulaire", Unspecified, true},
		{"ok/holder-request-apostrophe-quotes", "« Demande du titulaire »", Unspecified, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr, ok := LookupFrenchReason(tt.in)
			if !ok {
				t.Fatalf("LookupFrenchReason(%q) found nothing, want %v", tt.in, tt.want)
			}
			if fr.Reason != tt.want || fr.NoReasonCode != tt.noCode {
				t.Errorf("LookupFrenchReason(%q) = %v (no code: %v), want %v (no code: %v)", tt.in, fr.Reason, fr.NoReasonCode, tt.want, tt.noCode)
			}
			if got, ok := ParseFrenchReason(tt.in); !ok || got != tt.want {
				t.Errorf("ParseFrenchReason(%q) = %v, %v, want %v, true", tt.in, got, ok, tt.want)
			}
		})
	}

	fails := []struct{ name, in string }{
		{"fail/empty", ""},
		{"fail/blank", "   "},
		{"fail/rfc-name", "keyCompromise"},
		{"fail/truncated", "Clé privée"},
		{"fail/extra-word", "Clé privée compromise ou perdue"},
		{"fail/other-text", "Je veux révoquer"},
		{"fail/huge", strings.Repeat("Non paiement ", 100)},
	}
	for _, tt := range fails {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := ParseFrenchReason(tt.in); ok {
				t.Errorf("ParseFrenchReason(%q) = %v, true, want false", tt.in, got)
			}
		})
	}
}

func TestFrenchReasonsTableIsComplete(t *testing.T) {
	for _, fr := range FrenchReasons() {
		got, ok := LookupFrenchReason(fr.Label)
		if !ok || got != fr {
			t.Errorf("LookupFrenchReason(%q) = %+v, %v, want %+v", fr.Label, got, ok, fr)
		}
		if !fr.Reason.Valid() {
			t.Errorf("%q maps to %d, which RFC 5280 does not define", fr.Label, fr.Reason)
		}
	}
}

func FuzzParseFrenchReason(f *testing.F) {
	for _, fr := range FrenchReasons() {
		f.Add(fr.Label)
		f.Add(strings.ToUpper(fr.Label))
	}
	f.Add("cle privee compromise")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := ParseFrenchReason(s)
		if !ok {
			return
		}
		if !r.Valid() {
			t.Fatalf("ParseFrenchReason(%q) = %d, not an RFC 5280 code", s, r)
		}
		// Whatever is accepted must name exactly one label, whatever its case.
		if r2, ok2 := ParseFrenchReason(strings.ToLower(s)); utf8.ValidString(s) && (!ok2 || r2 != r) {
			t.Fatalf("ParseFrenchReason(%q) = %v but lower case gives %v, %v", s, r, r2, ok2)
		}
	})
}
