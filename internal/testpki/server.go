package testpki

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"
)

const (
	// maxRequestBody bounds OCSP and time-stamp requests: one for a single
	// certificate or digest is a few hundred bytes.
	maxRequestBody = 64 << 10
	// readHeaderTimeout stops a client that never finishes its headers
	// from holding a connection until Close.
	readHeaderTimeout = 10 * time.Second
)

// serve starts the HTTP server on ln; Close stops it.
func (p *PKI) serve(ln net.Listener) {
	p.srv = &http.Server{Handler: http.HandlerFunc(p.handle), ReadHeaderTimeout: readHeaderTimeout}
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		// Serve returns http.ErrServerClosed after Close; nothing else
		// can happen to a listener that is already bound.
		_ = p.srv.Serve(ln)
	}()
}

// Close stops the HTTP server, if any, and waits for it. It is safe to
// call more than once.
func (p *PKI) Close() error {
	if p.srv == nil {
		return nil
	}
	p.mu.Lock()
	closed := p.closed
	p.closed = true
	p.mu.Unlock()
	if closed {
		return nil
	}
	err := p.srv.Close()
	<-p.done
	if err != nil {
		return fmt.Errorf("closing test PKI server: %w", err)
	}
	return nil
}

// Requests returns how many HTTP requests the server received on paths
// starting with prefix, e.g. "/crl/", "/ocsp" or "/tsa".
func (p *PKI) Requests(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for path, c := range p.requests {
		if strings.HasPrefix(path, prefix) {
			n += c
		}
	}
	return n
}

// handle dispatches by path prefix. It does not use http.ServeMux because
// the mux cleans paths, and the base64 of an OCSP GET request may hold
// "//".
func (p *PKI) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.requests[r.URL.Path]++
	p.mu.Unlock()

	path := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(path, "/crl/") && strings.HasSuffix(path, ".crl"):
		p.handleCRL(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/crl/"), ".crl"))
	case strings.HasPrefix(path, "/ca/") && strings.HasSuffix(path, ".cer"):
		p.handleCACert(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/ca/"), ".cer"))
	case path == "/ocsp" || strings.HasPrefix(path, "/ocsp/"):
		p.handleOCSP(w, r, strings.TrimPrefix(strings.TrimPrefix(path, "/ocsp"), "/"))
	case path == "/tsa":
		p.handleTSA(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *PKI) ca(id string) *Cert {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cas[id]
}

func (p *PKI) handleCRL(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c := p.ca(id)
	if c == nil {
		http.NotFound(w, r)
		return
	}
	der, err := p.CRL(c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Write(der)
}

func (p *PKI) handleCACert(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	c := p.ca(id)
	if c == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-cert")
	w.Write(c.Cert.Raw)
}

// handleOCSP answers POST /ocsp and GET /ocsp/<base64> (RFC 6960 appendix
// A.1). Errors in the request are answered with an OCSP error response,
// as the RFC wants, not with an HTTP error.
func (p *PKI) handleOCSP(w http.ResponseWriter, r *http.Request, rest string) {
	var der []byte
	switch r.Method {
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		if err != nil || len(body) > maxRequestBody {
			writeOCSP(w, ocsp.MalformedRequestErrorResponse)
			return
		}
		der = body
	case http.MethodGet:
		s, err := url.PathUnescape(rest)
		if err == nil {
			der, err = base64.StdEncoding.DecodeString(s)
		}
		if err != nil {
			writeOCSP(w, ocsp.MalformedRequestErrorResponse)
			return
		}
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	writeOCSP(w, p.answerOCSP(der))
}

func writeOCSP(w http.ResponseWriter, der []byte) {
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(der)
}

// answerOCSP returns the DER OCSP response to the DER request der.
func (p *PKI) answerOCSP(der []byte) []byte {
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse
	}
	p.mu.Lock()
	cas := make(map[string]*Cert, len(p.cas))
	for id, c := range p.cas {
		cas[id] = c
	}
	p.mu.Unlock()
	for id, c := range cas {
		nameHash, keyHash, err := issuerHashes(c.Cert, req.HashAlgorithm)
		if err != nil {
			return ocsp.MalformedRequestErrorResponse
		}
		if string(nameHash) != string(req.IssuerNameHash) || string(keyHash) != string(req.IssuerKeyHash) {
			continue
		}
		resp, err := p.ocspResponse(c, id, req.SerialNumber, req.HashAlgorithm, crypto.SHA256)
		if err != nil {
			return ocsp.InternalErrorErrorResponse
		}
		return resp
	}
	return ocsp.UnauthorizedErrorResponse
}

// handleTSA answers an RFC 3161 TimeStampReq posted to /tsa (section 3.4).
func (p *PKI) handleTSA(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody {
		body = nil // answered as badDataFormat below
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(p.answerTSA(body))
}

type timeStampReq struct {
	Version        int
	MessageImprint messageImprint
	ReqPolicy      asn1.ObjectIdentifier `asn1:"optional"`
	Nonce          *big.Int              `asn1:"optional"`
	CertReq        bool                  `asn1:"optional"`
	Extensions     []pkix.Extension      `asn1:"optional,tag:0"`
}

type pkiStatusInfo struct {
	Status   int
	FailInfo asn1.BitString `asn1:"optional"`
}

type timeStampResp struct {
	Status pkiStatusInfo
	Token  asn1.RawValue `asn1:"optional"`
}

// PKIStatus and PKIFailureInfo values of RFC 3161 section 2.4.2.
const (
	statusGranted   = 0
	statusRejection = 2

	failBadAlg              = 0
	failBadRequest          = 2
	failBadDataFormat       = 5
	failUnacceptedPolicy    = 15
	failUnacceptedExtension = 16
	failSystemFailure       = 25
)

// answerTSA returns the DER TimeStampResp to the DER request der: a token
// dated by the clock, or a rejection naming the failure.
func (p *PKI) answerTSA(der []byte) []byte {
	var req timeStampReq
	rest, err := asn1.Unmarshal(der, &req)
	if err != nil || len(rest) > 0 {
		return tsaRejection(failBadDataFormat)
	}
	if req.Version != 1 {
		return tsaRejection(failBadRequest)
	}
	h := hashForOID(req.MessageImprint.HashAlgorithm.Algorithm)
	if h == 0 {
		return tsaRejection(failBadAlg)
	}
	if len(req.MessageImprint.HashedMessage) != h.Size() {
		return tsaRejection(failBadDataFormat)
	}
	if req.ReqPolicy != nil && !req.ReqPolicy.Equal(TSAPolicy) {
		return tsaRejection(failUnacceptedPolicy)
	}
	if len(req.Extensions) > 0 {
		return tsaRejection(failUnacceptedExtension)
	}
	// RFC 3161 section 2.4.2: the messageImprint is the request's, and
	// the certificate is included only when asked for.
	token, err := p.token(req.MessageImprint, TimestampOptions{Nonce: req.Nonce, NoCertificates: !req.CertReq})
	if err != nil {
		return tsaRejection(failSystemFailure)
	}
	resp, err := asn1.Marshal(timeStampResp{Status: pkiStatusInfo{Status: statusGranted}, Token: asn1.RawValue{FullBytes: token}})
	if err != nil {
		return tsaRejection(failSystemFailure)
	}
	return resp
}

// tsaRejection encodes a rejection with one failure bit set.
func tsaRejection(bit int) []byte {
	fail := asn1.BitString{Bytes: make([]byte, bit/8+1), BitLength: bit + 1}
	fail.Bytes[bit/8] = 0x80 >> (bit % 8)
	der, err := asn1.Marshal(timeStampResp{Status: pkiStatusInfo{Status: statusRejection, FailInfo: fail}})
	if err != nil {
		// Marshalling two integers and a bit string cannot fail.
		panic(fmt.Sprintf("encoding time-stamp rejection: %v", err))
	}
	return der
}
