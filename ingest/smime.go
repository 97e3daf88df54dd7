package ingest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/emersion/go-message/textproto"
)

// Kinds of SMIMELayer.
const (
	// SMIMESigned is opaque signed-data: the signed entity travels inside
	// the signature (what `openssl smime -sign -nodetach` and some Outlook
	// set-ups send).
	SMIMESigned = "signed-data"
	// SMIMEEncrypted is enveloped-data, encrypted to the desk's
	// certificate.
	SMIMEEncrypted = "enveloped-data"
	// SMIMEDetached is a detached signature (multipart/signed, RFC 8551
	// 3.5): the signed entity is the first part, the signature the
	// second.
	SMIMEDetached = "detached-signature"
)

// SMIMELayer is one opaque S/MIME layer that ParseMessage opened. It is
// evidence shown to operators, never a reason to accept a request: the
// signed PDF alone authorises a revocation.
type SMIMELayer struct {
	// Path is the layer's part in IMAP section numbering ("" for the
	// message itself); the entity it carries is numbered under it.
	Path string `json:"path"`
	// Kind is SMIMESigned, SMIMEDetached or SMIMEEncrypted.
	Kind string `json:"kind"`
	// Signer is the signing certificate of signed-data, nil when the
	// layer names none (or several).
	Signer *CertSummary `json:"signer,omitempty"`
	// SignatureValid says that the signature over the carried entity
	// verifies with Signer's key. The certificate itself is not chained
	// to any trust anchor nor checked for revocation.
	SignatureValid bool `json:"signatureValid"`
	// SignatureError says why SignatureValid is false; "" otherwise.
	SignatureError string `json:"signatureError,omitempty"`
	// Recipient is the desk's certificate an encrypted layer was
	// decrypted with.
	Recipient *CertSummary `json:"recipient,omitempty"`
}

// CertSummary names a certificate for an operator.
type CertSummary struct {
	Subject      string    `json:"subject"`
	Issuer       string    `json:"issuer"`
	SerialNumber string    `json:"serialNumber"` // lower-case hex
	Emails       []string  `json:"emails,omitempty"`
	NotBefore    time.Time `json:"notBefore"`
	NotAfter     time.Time `json:"notAfter"`
}

func summarize(c *x509.Certificate) *CertSummary {
	if c == nil {
		return nil
	}
	return &CertSummary{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		SerialNumber: strings.ToLower(c.SerialNumber.Text(16)), Emails: c.EmailAddresses,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter,
	}
}

// Kinds of Unopened.
const (
	// UnopenedEncrypted: encrypted S/MIME that no Decrypter could open.
	UnopenedEncrypted = "smime-encrypted"
	// UnopenedSMIME: an S/MIME part that is not a readable PKCS #7 /
	// CMS structure.
	UnopenedSMIME = "smime-unreadable"
	// UnopenedArchive: a .zip archive that is damaged, encrypted or over
	// one of its limits.
	UnopenedArchive = "archive"
	// UnopenedTNEF: Outlook's winmail.dat (application/ms-tnef).
	UnopenedTNEF = "winmail"
)

// Unopened is a part that may carry a form but could not be read.
type Unopened struct {
	Path     string `json:"path"`
	FileName string `json:"fileName,omitempty"`
	// Kind is UnopenedEncrypted, UnopenedSMIME, UnopenedArchive or
	// UnopenedTNEF.
	Kind string `json:"kind"`
	// Reason is one English sentence for the operator.
	Reason string `json:"reason"`
}

// Decrypter holds the desk's S/MIME certificate and key, to open mail
// encrypted to it. go.mozilla.org/pkcs7 decrypts RSA key transport with
// AES-CBC or (3)DES content: what mail clients send to an RSA certificate.
type Decrypter struct {
	Cert *x509.Certificate
	Key  crypto.PrivateKey
}

// LoadDecrypter reads a PEM certificate and its PEM private key (PKCS #1
// or PKCS #8, RSA). It refuses a key file that users other than its owner
// may read or write: the key opens every encrypted request.
func LoadDecrypter(certFile, keyFile string) (*Decrypter, error) {
	fi, err := os.Stat(keyFile)
	if err != nil {
		return nil, fmt.Errorf("smime key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("smime key file %s has mode %04o: others than its owner may read it (chmod 600 it)", keyFile, perm)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("smime key file: %w", err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("smime certificate file: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("smime certificate file %s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("smime certificate file %s: %w", certFile, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("smime key file %s: no PEM key", keyFile)
	}
	var key crypto.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(kb.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(kb.Bytes); err == nil {
		key = k
	} else {
		return nil, fmt.Errorf("smime key file %s: not a PKCS #1 or PKCS #8 key", keyFile)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("smime key file %s: a %T key; only RSA keys decrypt S/MIME here", keyFile, key)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&rk.PublicKey) {
		return nil, fmt.Errorf("smime key file %s does not hold the key of %s", keyFile, certFile)
	}
	return &Decrypter{Cert: cert, Key: rk}, nil
}

// isSMIME reports an opaque S/MIME part (RFC 8551, 3.2): typed
// application/pkcs7-mime (x-pkcs7-mime from older clients), or an
// octet-stream named *.p7m.
func isSMIME(mediaType string, params map[string]string, name string) bool {
	switch mediaType {
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		// A certs-only message carries no content.
		return !strings.EqualFold(params["smime-type"], "certs-only")
	case "application/octet-stream":
		return strings.HasSuffix(strings.ToLower(strings.TrimSpace(name)), ".p7m")
	}
	return false
}

// Object identifiers of the CMS content types (RFC 5652).
var (
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
)

// smime opens one opaque S/MIME part at path and walks the entity it
// carries. What cannot be opened is listed in Message.Unopened.
func (w *walker) smime(h textproto.Header, params map[string]string, body io.Reader, path string, depth int) error {
	depth++
	if depth > w.lim.MaxDepth {
		return fmt.Errorf("%w: more than %d levels at part %s", ErrTooDeep, w.lim.MaxDepth, pathOrRoot(path))
	}
	name := fileName(h, params)
	unopened := func(kind, format string, args ...any) error {
		w.msg.Unopened = append(w.msg.Unopened, Unopened{Path: path, FileName: name, Kind: kind, Reason: fmt.Sprintf(format, args...)})
		return nil
	}
	decoded, encErr := transferDecoder(h, body)
	if encErr != nil {
		return unopened(UnopenedSMIME, "S/MIME part: %v", encErr)
	}
	data, err := io.ReadAll(io.LimitReader(decoded, w.lim.MaxMessageBytes+1))
	switch {
	case err != nil:
		return unopened(UnopenedSMIME, "S/MIME part cannot be decoded: %v", err)
	case int64(len(data)) > w.lim.MaxMessageBytes:
		return unopened(UnopenedSMIME, "S/MIME part over %d bytes", w.lim.MaxMessageBytes)
	}
	layer, content, err := openSMIME(data, w.dec)
	if err != nil {
		kind := UnopenedSMIME
		if errors.Is(err, errNoDecrypter) || errors.Is(err, errDecrypt) {
			kind = UnopenedEncrypted
		}
		return unopened(kind, "%v", err)
	}
	layer.Path = path
	w.msg.SMIME = append(w.msg.SMIME, *layer)

	inner, innerBody, err := readHeader(bytes.NewReader(content))
	if err == nil {
		w.detached(inner, content, path)
	}
	if err != nil {
		return fmt.Errorf("%w: reading the entity inside the S/MIME part %s: %w", ErrMalformed, path, err)
	}
	if err := w.count(path); err != nil {
		return err
	}
	return w.message(inner, innerBody, path, depth)
}

var (
	errNoDecrypter = errors.New("encrypted S/MIME and no key configured to open it")
	errDecrypt     = errors.New("encrypted S/MIME that the desk's key cannot open")
)

// openSMIME parses a DER or BER CMS structure and returns the layer it
// forms and the MIME entity it carries: the signed content of
// signed-data, the decrypted content of enveloped-data.
func openSMIME(data []byte, dec *Decrypter) (*SMIMELayer, []byte, error) {
	der, err := berToDER(data)
	if err != nil {
		return nil, nil, fmt.Errorf("S/MIME part is not a CMS structure: %w", err)
	}
	var info struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
	}
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		return nil, nil, fmt.Errorf("S/MIME part is not a CMS structure: %w", err)
	}
	switch {
	case info.ContentType.Equal(oidSignedData):
	case info.ContentType.Equal(oidEnvelopedData):
		if dec == nil {
			return nil, nil, errNoDecrypter
		}
	default:
		return nil, nil, fmt.Errorf("S/MIME part holds CMS content type %s, neither signed-data nor enveloped-data", info.ContentType)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, nil, fmt.Errorf("S/MIME part cannot be parsed: %w", err)
	}
	if info.ContentType.Equal(oidEnvelopedData) {
		content, err := p7.Decrypt(dec.Cert, dec.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errDecrypt, err)
		}
		return &SMIMELayer{Kind: SMIMEEncrypted, Recipient: summarize(dec.Cert)}, content, nil
	}
	if len(p7.Content) == 0 {
		return nil, nil, errors.New("S/MIME signed-data carries no content (a detached signature sent alone)")
	}
	layer := &SMIMELayer{Kind: SMIMESigned, Signer: summarize(p7.GetOnlySigner())}
	if err := p7.Verify(); err != nil {
		layer.SignatureError = err.Error()
	} else {
		layer.SignatureValid = true
	}
	return layer, p7.Content, nil
}

// detached records the detached S/MIME signature of raw, an entity whose
// header is h, when it is multipart/signed with a PKCS #7 signature: the
// common S/MIME form, whose PDF the MIME walk finds like any other. Only
// the message itself and the entity inside an opaque layer are looked
// at, where revokd holds the entity's bytes as received; a signature that
// cannot be read is recorded as not valid.
func (w *walker) detached(h textproto.Header, raw []byte, path string) {
	mediaType, params := contentType(h, "")
	if mediaType != "multipart/signed" || !strings.Contains(strings.ToLower(params["protocol"]), "pkcs7-signature") {
		return
	}
	layer := SMIMELayer{Path: path, Kind: SMIMEDetached}
	if err := verifyDetached(raw, params["boundary"], &layer); err != nil {
		layer.SignatureError = err.Error()
	}
	w.msg.SMIME = append(w.msg.SMIME, layer)
}

// verifyDetached finds the two parts of a multipart/signed entity in raw
// and verifies the signature (the second part) over the first part's
// bytes, header included, as they were sent (RFC 8551, 3.5).
func verifyDetached(raw []byte, boundary string, layer *SMIMELayer) error {
	if boundary == "" {
		return errors.New("multipart/signed without a boundary")
	}
	delim := []byte("--" + boundary)
	// The first delimiter starts a line; the body starts after the
	// header's blank line.
	start := bytes.Index(raw, []byte("\r\n\r\n"))
	if start < 0 {
		return errors.New("no body")
	}
	body := raw[start+2:]
	first := bytes.Index(body, append([]byte("\r\n"), delim...))
	if first < 0 {
		return errors.New("first part not found")
	}
	rest := body[first+2+len(delim):]
	eol := bytes.Index(rest, []byte("\r\n"))
	if eol < 0 {
		return errors.New("first part not found")
	}
	rest = rest[eol+2:]
	second := bytes.Index(rest, append([]byte("\r\n"), delim...))
	if second < 0 {
		return errors.New("signature part not found")
	}
	signed := rest[:second]
	sigPart := rest[second+2+len(delim):]
	if eol := bytes.Index(sigPart, []byte("\r\n")); eol >= 0 {
		sigPart = sigPart[eol+2:]
	}
	if end := bytes.Index(sigPart, append([]byte("\r\n"), delim...)); end >= 0 {
		sigPart = sigPart[:end+2]
	}
	sh, sigBody, err := readHeader(bytes.NewReader(sigPart))
	if err != nil {
		return fmt.Errorf("signature part: %w", err)
	}
	decoded, err := transferDecoder(sh, sigBody)
	if err != nil {
		return fmt.Errorf("signature part: %w", err)
	}
	sig, err := io.ReadAll(io.LimitReader(decoded, maxDetachedSignatureBytes+1))
	if err != nil || len(sig) > maxDetachedSignatureBytes {
		return fmt.Errorf("signature part unreadable or over %d bytes", maxDetachedSignatureBytes)
	}
	der, err := berToDER(sig)
	if err != nil {
		return fmt.Errorf("signature is not a CMS structure: %w", err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return fmt.Errorf("signature cannot be parsed: %w", err)
	}
	layer.Signer = summarize(p7.GetOnlySigner())
	p7.Content = signed
	if err := p7.Verify(); err != nil {
		return err
	}
	layer.SignatureValid = true
	return nil
}

// maxDetachedSignatureBytes bounds a detached signature: a signer's chain
// of a few certificates with revocation data stays under 64 KiB.
const maxDetachedSignatureBytes = 1 << 20

// maxBERNesting bounds the nesting of BER elements that berToDER converts.
// CMS signed-data nests about 10 levels deep; go.mozilla.org/pkcs7's own
// converter recurses without a bound, so deep input would exhaust the
// stack.
const maxBERNesting = 64

// berToDER rewrites indefinite lengths as definite ones, in linear time,
// so that go.mozilla.org/pkcs7 never runs its own converter on them: that
// one searches the rest of the input for an end-of-contents marker after
// every element (quadratic time) and recurses without a bound. DER input
// is returned as is. Trailing bytes after the element are an error.
func berToDER(b []byte) ([]byte, error) {
	out, n, err := berElement(nil, b, 0)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("%d bytes after the CMS structure", len(b)-n)
	}
	return out, nil
}

// berElement appends the DER form of the element at the start of b to
// out, and returns how many bytes of b the element took.
func berElement(out, b []byte, depth int) ([]byte, int, error) {
	if depth > maxBERNesting {
		return nil, 0, fmt.Errorf("BER nested over %d levels", maxBERNesting)
	}
	if len(b) < 2 {
		return nil, 0, errors.New("truncated BER element")
	}
	tagLen := 1
	if b[0]&0x1f == 0x1f {
		for tagLen < len(b) && b[tagLen]&0x80 != 0 {
			tagLen++
		}
		tagLen++
		if tagLen > 6 || tagLen >= len(b) {
			return nil, 0, errors.New("bad BER tag")
		}
	}
	tag := b[:tagLen]
	constructed := b[0]&0x20 != 0
	l := b[tagLen]
	pos := tagLen + 1
	if l == 0x80 {
		if !constructed {
			return nil, 0, errors.New("indefinite length on a primitive BER element")
		}
		var content []byte
		for {
			if len(b)-pos < 2 {
				return nil, 0, errors.New("BER indefinite length without end-of-contents")
			}
			if b[pos] == 0 && b[pos+1] == 0 {
				pos += 2
				break
			}
			var n int
			var err error
			if content, n, err = berElement(content, b[pos:], depth+1); err != nil {
				return nil, 0, err
			}
			pos += n
		}
		return appendDER(out, tag, content), pos, nil
	}
	length := int(l)
	if l > 0x80 {
		n := int(l & 0x7f)
		if n > 4 || pos+n > len(b) {
			return nil, 0, errors.New("bad BER length")
		}
		length = 0
		for _, c := range b[pos : pos+n] {
			length = length<<8 | int(c)
		}
		pos += n
	}
	if length < 0 || length > len(b)-pos {
		return nil, 0, errors.New("BER length beyond the data")
	}
	end := pos + length
	if !constructed || !hasIndefinite(b[pos:end]) {
		return appendDER(out, tag, b[pos:end]), end, nil
	}
	var content []byte
	for p := pos; p < end; {
		var n int
		var err error
		if content, n, err = berElement(content, b[p:end], depth+1); err != nil {
			return nil, 0, err
		}
		p += n
	}
	return appendDER(out, tag, content), end, nil
}

// hasIndefinite reports whether an indefinite length may occur among the
// bytes: a cheap filter that keeps DER content from being rebuilt.
func hasIndefinite(b []byte) bool {
	return bytes.IndexByte(b, 0x80) >= 0
}

// appendDER appends an element with a definite, minimal length.
func appendDER(out, tag, content []byte) []byte {
	out = append(out, tag...)
	n := len(content)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	default:
		var lb []byte
		for v := n; v > 0; v >>= 8 {
			lb = append([]byte{byte(v)}, lb...)
		}
		out = append(out, 0x80|byte(len(lb)))
		out = append(out, lb...)
	}
	return append(out, content...)
}
