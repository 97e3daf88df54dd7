package revocation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
)

// maxCacheEntries bounds the fetch cache. Keys come from certificates
// chained to trust anchors, so the set is naturally small (one CRL per CA,
// one OCSP response per signer); the bound only matters for a worker that
// sees very many distinct signers between two expiries.
const maxCacheEntries = 10000

// cacheEntry is a fetched response kept until its nextUpdate.
type cacheEntry struct {
	crl     *x509.RevocationList // for CRL URLs
	ocspDER []byte               // for OCSP keys
	expires time.Time
}

func (c *Checker) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		c.client = &http.Client{
			Timeout: c.timeout(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return c.client
}

func (c *Checker) cached(key string) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.fetchCache[key]
	if !ok {
		return cacheEntry{}, false
	}
	if !c.clock().Before(e.expires) {
		delete(c.fetchCache, key)
		return cacheEntry{}, false
	}
	return e, true
}

func (c *Checker) store(key string, e cacheEntry) {
	if e.expires.IsZero() || !c.clock().Before(e.expires) {
		return // no nextUpdate: nothing says how long it stays true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fetchCache == nil {
		c.fetchCache = map[string]cacheEntry{}
	}
	if len(c.fetchCache) >= maxCacheEntries {
		now := c.clock()
		for k, v := range c.fetchCache {
			if !now.Before(v.expires) {
				delete(c.fetchCache, k)
			}
		}
		for k := range c.fetchCache {
			if len(c.fetchCache) < maxCacheEntries {
				break
			}
			delete(c.fetchCache, k)
		}
	}
	c.fetchCache[key] = e
}

// checkURL refuses anything but a plain http URL with a host.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if !strings.EqualFold(u.Scheme, "http") {
		return fmt.Errorf("only http URLs are fetched, not %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("the URL has no host")
	}
	return nil
}

// fetch sends req and returns the body of a 200 answer, at most limit
// bytes long.
func (c *Checker) fetch(ctx context.Context, method, rawURL, contentType string, body []byte, limit int64) ([]byte, error) {
	if err := checkURL(rawURL); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the server answered %s", resp.Status)
	}
	// One byte more than the cap tells an answer at the cap from a larger
	// one.
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the answer exceeds the limit of %d bytes", limit)
	}
	return data, nil
}

// onlineOCSP asks the responder at rawURL about cert, or answers from the
// cache.
func (c *Checker) onlineOCSP(ctx context.Context, rawURL string, cert, issuer *x509.Certificate, at time.Time, accept AlgorithmCheck) (answer, error) {
	issuerKey := sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
	key := "ocsp\x00" + rawURL + "\x00" + hex.EncodeToString(issuerKey[:]) + "\x00" + cert.SerialNumber.Text(16)
	if e, ok := c.cached(key); ok {
		resp, err := parseOCSP(e.ocspDER, cert, issuer, accept)
		if err == nil {
			return ocspAnswer(resp, cert, at), nil
		}
	}
	if err := checkURL(rawURL); err != nil {
		return answer{}, err
	}
	reqDER, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return answer{}, fmt.Errorf("building the OCSP request: %w", err)
	}
	der, err := c.fetch(ctx, http.MethodPost, rawURL, "application/ocsp-request", reqDER, c.maxOCSPBytes())
	if err != nil {
		return answer{}, err
	}
	resp, err := parseOCSP(der, cert, issuer, accept)
	if err != nil {
		return answer{}, fmt.Errorf("the response %w", err)
	}
	c.store(key, cacheEntry{ocspDER: der, expires: resp.NextUpdate})
	return ocspAnswer(resp, cert, at), nil
}

// onlineCRL fetches the CRL at rawURL, or returns it from the cache. Only
// a CRL signed by issuer is cached, so a bad answer cannot stick.
func (c *Checker) onlineCRL(ctx context.Context, rawURL string, issuer *x509.Certificate) (*x509.RevocationList, error) {
	key := "crl\x00" + rawURL
	if e, ok := c.cached(key); ok {
		return e.crl, nil
	}
	data, err := c.fetch(ctx, http.MethodGet, rawURL, "", nil, c.maxCRLBytes())
	if err != nil {
		return nil, err
	}
	rl, err := parseCRL(data)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(rl.RawIssuer, issuer.RawSubject) && rl.CheckSignatureFrom(issuer) == nil {
		c.store(key, cacheEntry{crl: rl, expires: rl.NextUpdate})
	}
	return rl, nil
}

// parseCRL reads one DER or PEM CRL.
func parseCRL(data []byte) (*x509.RevocationList, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q is not an X509 CRL", block.Type)
		}
		data = block.Bytes
	}
	rl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("parsing the CRL: %w", err)
	}
	return rl, nil
}
