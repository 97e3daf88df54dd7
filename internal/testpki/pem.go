package testpki

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

// RootsPEM returns the root certificate in PEM, the trust anchor bundle a
// verifier of this PKI's certificates is configured with.
func (p *PKI) RootsPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Root.Cert.Raw})
}

// WritePEM writes c to dir as name.pem (the certificate), name.key (its
// private key, PKCS #8, mode 0600) and name-chain.pem (its issuers,
// nearest first), for openssl and pdfsig in scripts.
func WritePEM(dir, name string, c *Cert) error {
	var chain []byte
	for _, ic := range c.Chain {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ic.Raw})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return fmt.Errorf("encoding private key of %s: %w", name, err)
	}
	files := []struct {
		suffix string
		data   []byte
		perm   os.FileMode
	}{
		{".pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}), 0o644},
		{".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600},
		{"-chain.pem", chain, 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, name+f.suffix), f.data, f.perm); err != nil {
			return fmt.Errorf("writing %s%s: %w", name, f.suffix, err)
		}
	}
	return nil
}
