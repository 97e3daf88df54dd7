package authorize

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/revocation"
)

// fixture is a registry and the certificates of the people in it.
type fixture struct {
	reg   *MemoryRegistry
	opts  Options
	certs map[string]*x509.Certificate
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ours, ours2, other := newTestCA(t, "Our CA"), newTestCA(t, "Our CA 2"), newTestCA(t, "Other CA")
	erin := person{surname: "Morel", given: "Erin", email: "erin.morel@acme.fr", idSerial: "ID-ERIN-01", siren: sirenAcme}
	gina := person{surname: "Faure", given: "Gina", email: "gina.faure@acme.fr", idSerial: "ID-GINA-01", siren: sirenAcme}
	aliceCN := alice
	aliceCN.cnOnly = true
	carolAcme := carol
	carolAcme.siren = sirenOther

	f := &fixture{
		reg:  &MemoryRegistry{},
		opts: Options{Issuers: []*x509.Certificate{ours.cert, ours2.cert}},
		certs: map[string]*x509.Certificate{
			"alice":            ours.issue(t, 0x1001, alice),
			"alice-second":     ours.issue(t, 0x1002, alice),
			"alice-revoked":    ours.issue(t, 0x1003, alice),
			"mallory":          ours.issue(t, 0x1004, mallory),
			"alice-other-ca":   other.issue(t, 0x1005, alice),
			"alice-cn-only":    ours.issue(t, 0x1006, aliceCN),
			"bob":              other.issue(t, 0x2001, bob),
			"carol":            other.issue(t, 0x2002, carol),
			"dave":             other.issue(t, 0x2003, dave),
			"erin":             other.issue(t, 0x2004, erin),
			"gina":             other.issue(t, 0x2005, gina),
			"foreign":          other.issue(t, 0x3001, alice),
			"alice-ambiguous":  ours.issue(t, 0x4001, alice),
			"carol-ambiguous":  ours2.issue(t, 0x4001, carolAcme),
			"alice-individual": ours.issue(t, 0x5001, person{surname: "Martin", given: "Alice", email: "alice@example.org", idSerial: "ID-ALICE-02"}),
		},
	}
	for _, name := range []string{"alice", "alice-second", "mallory", "alice-cn-only", "foreign", "alice-ambiguous", "carol-ambiguous", "alice-individual"} {
		mustRegister(t, f.reg, f.certs[name], false)
	}
	mustRegister(t, f.reg, f.certs["alice-revoked"], true)
	mustRepresentative(t, f.reg, bob, sirenAcme, "2024-01-01", "")
	mustRepresentative(t, f.reg, carol, sirenOther, "2024-01-01", "")
	mustRepresentative(t, f.reg, dave, sirenAcme, "2020-01-01", "2025-12-31")
	mustRepresentative(t, f.reg, erin, sirenAcme, "2026-06-01", "")
	mustRepresentative(t, f.reg, gina, sirenAcme, "2020-01-01", "2026-03-15")
	return f
}

func TestDecide(t *testing.T) {
	f := newFixture(t)
	erin := person{surname: "Morel", given: "Erin", email: "erin.morel@acme.fr"}
	gina := person{surname: "Faure", given: "Gina", email: "gina.faure@acme.fr"}
	with := func(form map[string]string, kv ...string) map[string]string {
		out := make(map[string]string, len(form))
		for k, v := range form {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	tests := []struct {
		name       string
		signer     string
		form       map[string]string
		mutate     func(*pdfverify.Report)
		wantCode   Code
		wantAccept bool
		wantRole   string
		wantFields []string
	}{
		{name: "ok/holder-signs-with-the-certificate-to-revoke", signer: "alice",
			form: holderForm(alice, "1001"), wantAccept: true, wantRole: RoleHolder},
		{name: "ok/holder-signs-with-another-of-their-certificates", signer: "alice-second",
			form: holderForm(alice, "1001"), wantAccept: true, wantRole: RoleHolder},
		{name: "ok/holder-signs-without-certificate-in-report", signer: "alice",
			form: holderForm(alice, "1001"), mutate: func(r *pdfverify.Report) {
				s := r.Signatures[0].Signer
				s.CertificateDER = nil
				s.Email, s.Surname, s.GivenName, s.IdentitySerial, s.SIREN = alice.email, alice.surname, alice.given, alice.idSerial, alice.siren
			}, wantAccept: true, wantRole: RoleHolder},
		{name: "ok/holder-fields-typed-differently", signer: "alice",
			form: with(holderForm(alice, "0x00:10:01"), "titulaire_nom", " MARTIN ", "titulaire_email", "Alice.Martin@ACME.fr",
				"entreprise_siren", "552 081 317", "demandeur_qualite", "TITULAIRE", "raison", "cle privee compromise"),
			wantAccept: true, wantRole: RoleHolder},
		{name: "ok/holder-of-certificate-with-common-name-only", signer: "alice-cn-only",
			form: holderForm(alice, "1006"), wantAccept: true, wantRole: RoleHolder},
		{name: "ok/holder-of-certificate-of-no-organisation", signer: "alice-individual",
			form:       with(holderForm(alice, "5001"), "titulaire_email", "alice@example.org", "entreprise_siren", ""),
			wantAccept: true, wantRole: RoleHolder},
		{name: "ok/representative-of-the-right-siren", signer: "bob",
			form: representativeForm(alice, bob, "1001"), wantAccept: true, wantRole: RoleLegalRepresentative},
		{name: "ok/representative-feminine-role-spelling", signer: "bob",
			form:       with(representativeForm(alice, bob, "1001"), "demandeur_qualite", "Représentante légale"),
			wantAccept: true, wantRole: RoleLegalRepresentative},
		{name: "ok/representative-on-the-last-day-of-the-mandate", signer: "gina",
			form: representativeForm(alice, gina, "1001"), wantAccept: true, wantRole: RoleLegalRepresentative},
		{name: "ok/already-revoked", signer: "alice",
			form: holderForm(alice, "1003"), wantCode: CodeAlreadyRevoked, wantAccept: true, wantRole: RoleHolder},
		{name: "ok/ambiguous-serial-resolved-by-form", signer: "alice",
			form: holderForm(alice, "4001"), wantAccept: true, wantRole: RoleHolder},

		{name: "fail/report-not-verified", signer: "alice", form: holderForm(alice, "1001"),
			mutate: func(r *pdfverify.Report) {
				r.Indication, r.SubIndication = pdfverify.TotalFailed, pdfverify.HashFailure
			},
			wantCode: CodeNotVerified},
		{name: "fail/report-without-signer", signer: "alice", form: holderForm(alice, "1001"),
			mutate:   func(r *pdfverify.Report) { r.Signatures[0].Signer = nil },
			wantCode: CodeNotVerified},
		{name: "fail/report-without-validation-time", signer: "alice", form: holderForm(alice, "1001"),
			mutate:   func(r *pdfverify.Report) { r.Signatures[0].ValidationTime = time.Time{} },
			wantCode: CodeNotVerified},
		{name: "fail/representative-of-another-siren", signer: "carol",
			form: representativeForm(alice, carol, "1001"), wantCode: CodeNotRepresentative},
		{name: "fail/mandate-ended-before-the-validation-time", signer: "dave",
			form: representativeForm(alice, dave, "1001"), wantCode: CodeMandateExpired},
		{name: "fail/mandate-starts-after-the-validation-time", signer: "erin",
			form: representativeForm(alice, erin, "1001"), wantCode: CodeMandateExpired},
		{name: "fail/role-claimed-holder-but-signer-is-representative", signer: "bob",
			form:     with(representativeForm(alice, bob, "1001"), "demandeur_qualite", "Titulaire"),
			wantCode: CodeRoleMismatch, wantFields: []string{"demandeur_qualite"}},
		{name: "fail/role-claimed-representative-but-signer-is-holder", signer: "alice",
			form:     with(holderForm(alice, "1001"), "demandeur_qualite", "Représentant légal"),
			wantCode: CodeRoleMismatch, wantFields: []string{"demandeur_qualite"}},
		{name: "fail/unknown-serial", signer: "alice",
			form: holderForm(alice, "DEAD"), wantCode: CodeUnknownSerial, wantFields: []string{"certificat_numero_serie"}},
		{name: "fail/serial-of-another-ca", signer: "alice",
			form: holderForm(alice, "3001"), wantCode: CodeForeignCA, wantFields: []string{"certificat_numero_serie"}},
		{name: "fail/ambiguous-serial", signer: "bob",
			form:     with(representativeForm(alice, bob, "4001"), "titulaire_email", "nobody@acme.fr"),
			wantCode: CodeAmbiguousSerial, wantFields: []string{"certificat_numero_serie"}},
		{name: "fail/same-names-and-email-but-another-person", signer: "mallory",
			form: holderForm(alice, "1001"), wantCode: CodeHolderMismatch},
		{name: "fail/same-identity-attributes-from-another-ca", signer: "alice-other-ca",
			form: holderForm(alice, "1001"), wantCode: CodeHolderMismatch},
		{name: "fail/representative-claims-to-be-holder-of-other-siren", signer: "carol",
			form: holderForm(alice, "1001"), wantCode: CodeHolderMismatch},
		{name: "fail/holder-email-differs-from-registry", signer: "alice",
			form:     with(holderForm(alice, "1001"), "titulaire_email", "alice@elsewhere.fr"),
			wantCode: CodeFormMismatch, wantRole: RoleHolder, wantFields: []string{"titulaire_email"}},
		{name: "fail/holder-names-and-siren-differ-from-registry", signer: "alice",
			form:     with(holderForm(alice, "1001"), "titulaire_nom", "Martine", "titulaire_prenom", "Alicia", "entreprise_siren", sirenOther),
			wantCode: CodeFormMismatch, wantRole: RoleHolder, wantFields: []string{"titulaire_nom", "titulaire_prenom", "entreprise_siren"}},
		{name: "fail/representative-fields-differ-from-registry", signer: "bob",
			form:     with(representativeForm(alice, bob, "1001"), "representant_nom", "Dupont", "representant_email", ""),
			wantCode: CodeFormMismatch, wantRole: RoleLegalRepresentative, wantFields: []string{"representant_nom", "representant_email"}},
		{name: "fail/unknown-reason", signer: "alice",
			form: with(holderForm(alice, "1001"), "raison", "Je n'en veux plus"), wantCode: CodeUnknownReason, wantFields: []string{"raison"}},
		{name: "fail/missing-fields", signer: "alice",
			form:     with(holderForm(alice, "1001"), "certificat_numero_serie", " ", "titulaire_email", ""),
			wantCode: CodeMissingField, wantFields: []string{"certificat_numero_serie", "titulaire_email"}},
		{name: "fail/serial-not-hexadecimal", signer: "alice",
			form: with(holderForm(alice, "1001"), "certificat_numero_serie", "10O1"), wantCode: CodeInvalidField, wantFields: []string{"certificat_numero_serie"}},
		{name: "fail/role-not-on-the-form", signer: "alice",
			form: with(holderForm(alice, "1001"), "demandeur_qualite", "Directeur"), wantCode: CodeInvalidField, wantFields: []string{"demandeur_qualite"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := signedReport(f.certs[tt.signer], tt.form)
			if tt.mutate != nil {
				tt.mutate(r)
			}
			d, err := Decide(context.Background(), r, f.reg, f.opts)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			wantCode := tt.wantCode
			if wantCode == "" && tt.wantAccept {
				wantCode = CodeAccepted
			}
			if d.Code != wantCode || d.Accepted() != tt.wantAccept {
				t.Fatalf("Decide = {Accepted: %v, Code: %q}, want {Accepted: %v, Code: %q}; facts: %+v %s", d.Accepted(), d.Code, tt.wantAccept, wantCode, d.Facts, d.Cause)
			}
			if (d.Code == CodeNotVerified) != (d.Cause != "") {
				t.Errorf("Decide = %s with cause %q; a cause goes with not_verified, and only with it", d.Code, d.Cause)
			}
			if d.Role != tt.wantRole {
				t.Errorf("Decide Role = %q, want %q", d.Role, tt.wantRole)
			}
			if diff := cmp.Diff(tt.wantFields, d.FormFields()); diff != "" {
				t.Errorf("Decide Fields (-want +got):\n%s", diff)
			}
			for _, f := range d.Facts {
				if f.Field == "" || f.FormField == "" {
					t.Errorf("Decide gave a fact without its field: %+v", f)
				}
			}
			if !KnownCode(d.Code) {
				t.Errorf("Decide gave code %q, not in AllCodes", d.Code)
			}
			if d.AlreadyRevoked() != (wantCode == CodeAlreadyRevoked) {
				t.Errorf("Decide AlreadyRevoked = %v, want %v", d.AlreadyRevoked(), wantCode == CodeAlreadyRevoked)
			}
			if d.Accepted() {
				want, _ := ParseSerial(tt.form["certificat_numero_serie"])
				if d.Serial == nil || d.Serial.Cmp(want) != 0 || d.Certificate == nil || d.IssuerDN != d.Certificate.IssuerDN {
					t.Errorf("Decide named serial %v of %q, want %v", d.Serial, d.IssuerDN, want)
				}
			}
		})
	}
}

func TestDecideReasons(t *testing.T) {
	f := newFixture(t)
	inputs := map[string]string{
		"cle privee compromise":         "Clé privée compromise",
		"CLÉ PRIVÉE COMPROMISE":         "Clé privée compromise",
		"  Clé   privée  compromise ":   "Clé privée compromise",
		"ecrasement des anciennes cles": "Ecrasement des anciennes clés",
		"Non-paiement":                  "Non paiement",
	}
	for _, fr := range revocation.FrenchReasons() {
		inputs[fr.Label] = fr.Label
	}
	for input, label := range inputs {
		want, _ := revocation.LookupFrenchReason(label)
		d, err := Decide(context.Background(), signedReport(f.certs["alice"], func() map[string]string {
			form := holderForm(alice, "1001")
			form["raison"] = input
			return form
		}()), f.reg, f.opts)
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if !d.Accepted() || d.Reason != want.Reason || d.NoReasonCode != want.NoReasonCode {
			t.Errorf("Decide with reason %q = {Accepted: %v, Code: %q, Reason: %v, NoReasonCode: %v}, want accepted with %v, %v",
				input, d.Accepted(), d.Code, d.Reason, d.NoReasonCode, want.Reason, want.NoReasonCode)
		}
	}
}

func TestDecideFieldMapping(t *testing.T) {
	f := newFixture(t)
	form := map[string]string{}
	for k, v := range holderForm(alice, "1001") {
		form["Demande."+k] = v
	}
	opts := f.opts
	opts.Fields = FormFields{
		Serial: "Demande.certificat_numero_serie", Reason: "Demande.raison", Role: "Demande.demandeur_qualite",
		HolderSurname: "Demande.titulaire_nom", HolderGivenName: "Demande.titulaire_prenom",
		HolderEmail: "Demande.titulaire_email", SIREN: "Demande.entreprise_siren",
	}
	d, err := Decide(context.Background(), signedReport(f.certs["alice"], form), f.reg, opts)
	if err != nil || !d.Accepted() {
		t.Fatalf("Decide with mapped fields = %+v, %v; want accepted", d, err)
	}
}

type failingRegistry struct{ Registry }

var errDown = errors.New("database is down")

func (failingRegistry) CertificatesBySerial(context.Context, *big.Int) ([]Certificate, error) {
	return nil, errDown
}

func TestDecideErrors(t *testing.T) {
	f := newFixture(t)
	r := signedReport(f.certs["alice"], holderForm(alice, "1001"))
	if _, err := Decide(context.Background(), r, failingRegistry{}, f.opts); !errors.Is(err, errDown) {
		t.Errorf("Decide with a failing registry: err = %v, want %v", err, errDown)
	}
	if _, err := Decide(context.Background(), r, f.reg, Options{}); err == nil || !strings.Contains(err.Error(), "no issuing CA") {
		t.Errorf("Decide without issuers: err = %v, want a configuration error", err)
	}
	notCA := Options{Issuers: []*x509.Certificate{f.certs["bob"]}}
	if err := notCA.Validate(); err == nil || !strings.Contains(err.Error(), "not a CA certificate") {
		t.Errorf("Validate with a leaf as issuer: err = %v, want a configuration error", err)
	}
}

func TestFormFieldsFromMap(t *testing.T) {
	got := FormFieldsFromMap(map[string]string{"serial": "Numero", "date": "date", "representative_email": "RepMail"})
	want := DefaultFormFields()
	want.Serial, want.RepresentativeEmail = "Numero", "RepMail"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FormFieldsFromMap (-want +got):\n%s", diff)
	}
}

// FuzzDecideForm feeds hostile form values to Decide: it must not panic,
// and whatever it accepts must be one of the signer's own certificates.
func FuzzDecideForm(f *testing.F) {
	fx := newFixture(f)
	f.Add("1001", "Clé privée compromise", "Titulaire", "Martin", "Alice", "alice.martin@acme.fr", sirenAcme)
	f.Add("0x10:01", "non-paiement", "TITULAIRE", "MARTIN", "alice", "ALICE.MARTIN@acme.fr", "552 081 317")
	f.Add("3001", "x", "Représentant légal", "", "\x00", "@", "-")
	f.Fuzz(func(t *testing.T, serial, reason, role, surname, given, email, siren string) {
		form := map[string]string{
			"certificat_numero_serie": serial, "raison": reason, "demandeur_qualite": role,
			"titulaire_nom": surname, "titulaire_prenom": given, "titulaire_email": email, "entreprise_siren": siren,
		}
		d, err := Decide(context.Background(), signedReport(fx.certs["alice"], form), fx.reg, fx.opts)
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if d.Accepted() {
			s := FormatSerial(d.Serial)
			if (s != "1001" && s != "1002" && s != "1003" && s != "4001") || d.Role != RoleHolder {
				t.Fatalf("Decide accepted serial %s as %s for Alice's signature", s, d.Role)
			}
		}
	})
}
