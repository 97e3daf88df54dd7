// Package scenario builds the revocation desk's sample world: a test CA,
// the registry of its certificates and legal representatives, and a
// handful of mails, each with the outcome it must get. `revokd demo` runs
// the real worker on it; integration tests and benchmarks reuse it.
package scenario

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
)

// The organisation of the sample holders.
const (
	SIREN   = "732829320"
	Company = "Société Exemple"
)

// Mail is one sample mail and the outcome it must get.
type Mail struct {
	Name string // what it is, for the demo's table
	Raw  []byte
	// Want is the expected request state ("queued", "rejected",
	// "not_a_request") and WantCode the expected reason code ("" when
	// accepted).
	Want     string
	WantCode authorize.Code
}

// Scenario is the sample world.
type Scenario struct {
	PKI *testpki.PKI
	// RootPEM is the trust anchor; IssuerPEM the issuing CA whose
	// certificates the desk may revoke.
	RootPEM, IssuerPEM []byte
	// Certificates and Representatives are the registry's content.
	Certificates    []authorize.Certificate
	Representatives []authorize.Representative
	Mails           []Mail
	// Holder signs for herself; Representative for the company.
	Holder, Colleague, Representative, Impostor *testpki.Cert
}

// RegistryWriter is where Load puts the registry; *queue.Store and
// *authorize.MemoryRegistry are ones.
type RegistryWriter interface {
	UpsertCertificate(ctx context.Context, c authorize.Certificate) (authorize.Change, error)
	UpsertRepresentative(ctx context.Context, r authorize.Representative) (authorize.Change, error)
}

// Load writes the scenario's registry into w.
func (s *Scenario) Load(ctx context.Context, w RegistryWriter) error {
	for _, c := range s.Certificates {
		if _, err := w.UpsertCertificate(ctx, c); err != nil {
			return fmt.Errorf("registering certificate %x: %w", c.Serial, err)
		}
	}
	for _, r := range s.Representatives {
		if _, err := w.UpsertRepresentative(ctx, r); err != nil {
			return fmt.Errorf("registering representative %s: %w", r.Email, err)
		}
	}
	return nil
}

// Close stops the CA's CRL and OCSP server.
func (s *Scenario) Close() error { return s.PKI.Close() }

// New builds the world around now: the CA serves CRLs and OCSP on
// 127.0.0.1 until Close.
func New(now time.Time) (*Scenario, error) {
	pki, err := testpki.New(testpki.Options{Now: now, Name: "Démo"})
	if err != nil {
		return nil, err
	}
	s := &Scenario{
		PKI:       pki,
		RootPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Cert.Raw}),
		IssuerPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Intermediate.Cert.Raw}),
	}
	person := func(kt testpki.KeyType, given, sur, email, id string) (*testpki.Cert, error) {
		return pki.IssueHolder(testpki.HolderOptions{
			KeyType: kt, GivenName: given, Surname: sur, Email: email,
			IdentitySerial: id, Organization: Company, SIREN: SIREN,
		})
	}
	if s.Holder, err = person(testpki.ECDSAP256, "Hélène", "Dupont", "helene.dupont@example.fr", "1000000001"); err != nil {
		return nil, err
	}
	if s.Colleague, err = person(testpki.RSA2048, "Jean", "Martin", "jean.martin@example.fr", "1000000002"); err != nil {
		return nil, err
	}
	if s.Representative, err = person(testpki.ECDSAP256, "Claire", "Lefèvre", "claire.lefevre@example.fr", "1000000003"); err != nil {
		return nil, err
	}
	if s.Impostor, err = person(testpki.ECDSAP256, "Paul", "Durand", "paul.durand@example.fr", "1000000004"); err != nil {
		return nil, err
	}
	for _, c := range []*testpki.Cert{s.Holder, s.Colleague, s.Representative, s.Impostor} {
		s.Certificates = append(s.Certificates, authorize.CertificateFromX509(c.Cert))
	}
	s.Representatives = []authorize.Representative{{
		SIREN: SIREN, Surname: "Lefèvre", GivenName: "Claire", Email: "claire.lefevre@example.fr",
		ValidFrom: now.AddDate(-2, 0, 0),
	}}
	return s, s.buildMails(now)
}

func serialOf(c *testpki.Cert) string { return strings.ToLower(c.Cert.SerialNumber.Text(16)) }

// form fills the reference form for the certificate of target.
func (s *Scenario) form(target *testpki.Cert, serial, role string, rep *testpki.Cert, now time.Time) map[string]string {
	v := map[string]string{
		"certificat_numero_serie":   serial,
		"raison":                    "Clé privée compromise",
		"demandeur_qualite":         role,
		"entreprise_raison_sociale": Company,
		"entreprise_siren":          SIREN,
		"date":                      now.Format("02/01/2006"),
		"lieu":                      "Paris",
	}
	v["titulaire_nom"], v["titulaire_prenom"] = nameOf(target)
	v["titulaire_email"] = target.Cert.EmailAddresses[0]
	if rep != nil {
		v["representant_nom"], v["representant_prenom"] = nameOf(rep)
		v["representant_email"] = rep.Cert.EmailAddresses[0]
	}
	return v
}

func nameOf(c *testpki.Cert) (surname, given string) {
	for _, atv := range c.Cert.Subject.Names {
		switch atv.Type.String() {
		case "2.5.4.4":
			surname, _ = atv.Value.(string)
		case "2.5.4.42":
			given, _ = atv.Value.(string)
		}
	}
	return surname, given
}

// SignedForm returns the reference form with values, signed by signer in
// CAdES with its chain.
func SignedForm(values map[string]string, signer *testpki.Cert, at time.Time) ([]byte, error) {
	form, err := testsign.Form(values, testsign.FormOptions{})
	if err != nil {
		return nil, err
	}
	return testsign.Sign(form, testsign.SignOptions{
		Key: signer.Key, Cert: signer.Cert, Chain: signer.Chain,
		SubFilter: testsign.SubFilterCAdES, SigningTime: at, PSS: signer.KeyType == testpki.RSAPSS,
	})
}

func (s *Scenario) buildMails(now time.Time) error {
	holderForm := s.form(s.Holder, serialOf(s.Holder), "Titulaire", nil, now)
	holderPDF, err := SignedForm(holderForm, s.Holder, now)
	if err != nil {
		return err
	}
	repPDF, err := SignedForm(s.form(s.Colleague, serialOf(s.Colleague), "Représentant légal", s.Representative, now), s.Representative, now)
	if err != nil {
		return err
	}
	forged, err := testsign.ChangeFieldAfterSigning(holderPDF, "certificat_numero_serie", serialOf(s.Colleague))
	if err != nil {
		return err
	}
	unknownPDF, err := SignedForm(s.form(s.Holder, "0badc0ffee", "Titulaire", nil, now), s.Holder, now)
	if err != nil {
		return err
	}
	impostorPDF, err := SignedForm(s.form(s.Colleague, serialOf(s.Colleague), "Représentant légal", s.Impostor, now), s.Impostor, now)
	if err != nil {
		return err
	}
	s.Mails = []Mail{
		{Name: "holder revokes her own certificate", Raw: MailWith(1, "helene.dupont@example.fr", "Demande de révocation", "Demande de révocation.pdf", holderPDF), Want: "queued"},
		{Name: "legal representative revokes a colleague's", Raw: MailWith(2, "claire.lefevre@example.fr", "Révocation Jean Martin", "revocation-martin.pdf", repPDF), Want: "queued"},
		{Name: "serial changed after signing", Raw: MailWith(3, "helene.dupont@example.fr", "Demande", "demande.pdf", forged), Want: "rejected", WantCode: authorize.CodeModifiedAfterSigning},
		{Name: "serial unknown to the registry", Raw: MailWith(4, "helene.dupont@example.fr", "Demande", "demande.pdf", unknownPDF), Want: "rejected", WantCode: authorize.CodeUnknownSerial},
		{Name: "signer is not a representative", Raw: MailWith(5, "paul.durand@example.fr", "Révocation", "revocation.pdf", impostorPDF), Want: "rejected", WantCode: authorize.CodeNotRepresentative},
		{Name: "mail without PDF", Raw: MailWith(6, "jean.martin@example.fr", "Question", "", nil), Want: "not_a_request", WantCode: "no_pdf"},
	}
	return nil
}

// MailWith builds a mail from from with the PDF attached (none when pdf is
// nil); n makes its Message-ID unique.
func MailWith(n int, from, subject, fileName string, pdf []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: revocation@ca.example\r\nSubject: %s\r\nMessage-ID: <demo-%d@example.fr>\r\n"+
		"Date: %s\r\nMIME-Version: 1.0\r\n", from, mime.QEncoding.Encode("utf-8", subject), n, time.Now().Format(time.RFC1123Z))
	if pdf == nil {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour, comment révoquer mon certificat ?\r\n")
		return b.Bytes()
	}
	b.WriteString("Content-Type: multipart/mixed; boundary=\"sep\"\r\n\r\n--sep\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour, voici ma demande signée.\r\n--sep\r\n")
	fmt.Fprintf(&b, "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"+
		"Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", mime.QEncoding.Encode("utf-8", fileName))
	enc := base64.StdEncoding.EncodeToString(pdf)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--sep--\r\n")
	return b.Bytes()
}
