package scenario

import (
	"encoding/pem"
	"time"

	"github.com/revokd/revokd/internal/testpki"
	"github.com/revokd/revokd/internal/testsign"
)

// Offline is a holder of a test CA that serves nothing: the signatures it
// makes carry their own revocation evidence (the holder's OCSP response
// and the root's CRL), so they verify without any network.
type Offline struct {
	PKI     *testpki.PKI
	Holder  *testpki.Cert
	RootPEM []byte
	ocsp    []byte
	crl     []byte
}

// NewOffline issues a holder with a key of type kt, around now.
func NewOffline(now time.Time, kt testpki.KeyType) (*Offline, error) {
	pki, err := testpki.New(testpki.Options{Now: now, NoServer: true})
	if err != nil {
		return nil, err
	}
	o := &Offline{PKI: pki, RootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pki.Root.Cert.Raw})}
	if o.Holder, err = pki.IssueHolder(testpki.HolderOptions{
		KeyType: kt, Surname: "Dupont", GivenName: "Hélène",
		Email: "helene.dupont@example.fr", IdentitySerial: "1234567890",
		Organization: Company, SIREN: SIREN,
	}); err != nil {
		return nil, err
	}
	if o.ocsp, err = pki.OCSPResponse(o.Holder.Cert); err != nil {
		return nil, err
	}
	if o.crl, err = pki.CRL(pki.Root); err != nil {
		return nil, err
	}
	return o, nil
}

// Sign signs form with the given sub-filter at time at, embedding the
// revocation evidence.
func (o *Offline) Sign(form []byte, subFilter string, at time.Time) ([]byte, error) {
	return testsign.Sign(form, testsign.SignOptions{
		Key: o.Holder.Key, Cert: o.Holder.Cert, Chain: o.Holder.Chain, SubFilter: subFilter,
		SigningTime: at, OCSPs: [][]byte{o.ocsp}, CRLs: [][]byte{o.crl},
	})
}
