package notify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// maxTestMessage bounds what the test relay keeps of one message.
const maxTestMessage = 1 << 20

// received is one message as the test relay got it.
type received struct {
	from     string
	utf8     bool
	to       []string
	data     []byte
	authUser string
	tls      bool
	helo     string
}

// testRelay is go-smtp's server on a loopback port, speaking real SMTP,
// with replies that a test can script.
type testRelay struct {
	addr string

	mu       sync.Mutex
	msgs     []received
	sessions int
	rcpts    int
	// rcptReplies and dataReplies answer the next RCPT TO and the next
	// message, in order; a nil entry, or none left, accepts.
	rcptReplies []error
	dataReplies []error
	mailReplies []error
	// user and pass, when set, are the only credentials AUTH PLAIN
	// takes, and MAIL FROM needs them.
	user, pass string
	got        chan struct{} // one value per message accepted
}

type relayOptions struct {
	// tls serves STARTTLS with this certificate.
	tls *tls.Certificate
	// implicitTLS serves TLS from the first byte (needs tls).
	implicitTLS bool
	user, pass  string
	// insecureAuth offers AUTH without TLS.
	insecureAuth bool
	smtpUTF8     bool
}

func startRelay(t *testing.T, o relayOptions) *testRelay {
	t.Helper()
	r := &testRelay{user: o.user, pass: o.pass, got: make(chan struct{}, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		r.mu.Lock()
		r.sessions++
		r.mu.Unlock()
		return &relaySession{relay: r, conn: c}, nil
	}))
	srv.Domain = "relay.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = o.insecureAuth
	srv.EnableSMTPUTF8 = o.smtpUTF8
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = maxTestMessage
	var (
		ln  net.Listener
		err error
	)
	if o.tls != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*o.tls}}
	}
	if o.implicitTLS {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	r.addr = ln.Addr().String()
	return r
}

func (r *testRelay) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.msgs...)
}

func (r *testRelay) counts() (sessions, rcpts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions, r.rcpts
}

func next(replies *[]error) error {
	if len(*replies) == 0 {
		return nil
	}
	err := (*replies)[0]
	*replies = (*replies)[1:]
	return err
}

type relaySession struct {
	relay *testRelay
	conn  *smtp.Conn
	user  string
	msg   received
}

func (s *relaySession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *relaySession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if s.relay.user == "" || username != s.relay.user || password != s.relay.pass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *relaySession) Mail(from string, opts *smtp.MailOptions) error {
	if s.relay.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.relay.mu.Lock()
	err := next(&s.relay.mailReplies)
	s.relay.mu.Unlock()
	if err != nil {
		return err
	}
	s.msg = received{from: from, authUser: s.user, helo: s.conn.Hostname()}
	s.msg.utf8 = opts != nil && opts.UTF8
	_, s.msg.tls = s.conn.TLSConnectionState()
	return nil
}

func (s *relaySession) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.relay.mu.Lock()
	defer s.relay.mu.Unlock()
	s.relay.rcpts++
	if err := next(&s.relay.rcptReplies); err != nil {
		return err
	}
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, maxTestMessage))
	if err != nil {
		return err
	}
	s.relay.mu.Lock()
	defer s.relay.mu.Unlock()
	if err := next(&s.relay.dataReplies); err != nil {
		return err
	}
	s.msg.data = b
	s.relay.msgs = append(s.relay.msgs, s.msg)
	s.relay.got <- struct{}{}
	return nil
}

func (s *relaySession) Reset()        { s.msg = received{} }
func (s *relaySession) Logout() error { return nil }

// smtpErr is a scripted reply.
func smtpErr(code int, enhanced smtp.EnhancedCode, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: msg}
}

// testCA is a throwaway CA and a relay certificate for 127.0.0.1 and
// localhost.
type testCA struct {
	roots *x509.CertPool
	cert  tls.Certificate
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "revokd notify test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "relay.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &testCA{roots: roots, cert: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}}
}

// errNoMessage is returned by waitMessage when the relay got nothing.
var errNoMessage = errors.New("the relay received no message in time")

// waitMessage waits for the relay's next accepted message.
func (r *testRelay) waitMessage(timeout time.Duration) error {
	select {
	case <-r.got:
		return nil
	case <-time.After(timeout):
		return errNoMessage
	}
}
