package review

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// ListenConfig is how the UI is served: http.address, and TLS when a
// certificate and key are given (http.tls_cert, http.tls_key), with
// operators' client certificates verified against ClientCA
// (http.client_ca) when set.
type ListenConfig struct {
	Address           string
	CertFile, KeyFile string
	ClientCA          string
}

// TLSConfig returns the server's TLS configuration, nil when no
// certificate is configured. It refuses a configuration that would put
// the desk on the network in plain text: an address that is not loopback
// needs TLS.
func (c ListenConfig) TLSConfig() (*tls.Config, error) {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("http.tls_cert and http.tls_key go together: set both or neither")
	}
	if c.CertFile == "" {
		if c.ClientCA != "" {
			return nil, errors.New("http.client_ca needs TLS: set http.tls_cert and http.tls_key")
		}
		if !loopbackAddress(c.Address) {
			return nil, fmt.Errorf("http.address %q is not a loopback address: the operators' UI needs TLS there (set http.tls_cert and http.tls_key)", c.Address)
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("http.tls_cert/http.tls_key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCA != "" {
		pem, err := os.ReadFile(c.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("http.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http.client_ca %s: no PEM certificate", c.ClientCA)
		}
		// A certificate is a second factor, not a requirement: operators
		// without one log in with a TOTP code.
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// loopbackAddress reports whether addr listens on loopback only.
func loopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
