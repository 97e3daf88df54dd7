package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The stages of a conversation with the relay, as DeliveryError.Stage.
const (
	StageConnect  = "connect"
	StageTLS      = "tls"
	StageHello    = "hello"
	StageStartTLS = "starttls"
	StageAuth     = "auth"
	StageMail     = "mail"
	StageRcpt     = "rcpt"
	StageData     = "data"
)

// DeliveryError is a failed conversation with the relay.
type DeliveryError struct {
	// Stage is where it failed: StageConnect, StageTLS, StageHello,
	// StageStartTLS, StageAuth, StageMail, StageRcpt or StageData.
	Stage string
	// Code is the relay's reply code, 0 when the failure was not a
	// reply (a connection, TLS or time-out error).
	Code int
	// Permanent is set for a 5xx reply to RCPT TO or to the message
	// (the relay will never take this mail), and for a recipient that
	// needs SMTPUTF8 from a relay without it. Every other failure is
	// about the relay or its configuration, and is worth a retry.
	Permanent bool
	Err       error
}

func (e *DeliveryError) Error() string { return e.Stage + ": " + e.Err.Error() }

func (e *DeliveryError) Unwrap() error { return e.Err }

// failure wraps err from stage, deciding whether it is permanent.
func failure(stage string, err error) *DeliveryError {
	de := &DeliveryError{Stage: stage, Err: err}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		de.Code = se.Code
		de.Err = replyError{se}
		de.Permanent = se.Code >= 500 && (stage == StageRcpt || stage == StageData)
	}
	return de
}

// replyError prints a relay's reply as the relay sent it: "550 5.1.1 no
// such user", which is what an operator searches the relay's logs for.
type replyError struct{ *smtp.SMTPError }

func (e replyError) Error() string {
	c := e.EnhancedCode
	if c == smtp.NoEnhancedCode || c == smtp.EnhancedCodeNotSet {
		return fmt.Sprintf("%d %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, c[0], c[1], c[2], e.Message)
}

func (e replyError) Unwrap() error { return e.SMTPError }

// dial opens a session with the relay, up to and including AUTH: the
// part of a delivery that says whether the relay is there and accepts
// revokd. closeConn ends it.
func (r *sender) dial(ctx context.Context) (c *smtp.Client, closeConn func(), err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.Address)
	if err != nil {
		return nil, nil, failure(StageConnect, err)
	}
	// Closing the connection is what interrupts a blocked read when ctx
	// ends (the timeout, or the sender stopping).
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(de *DeliveryError) (*smtp.Client, func(), error) {
		stop()
		conn.Close()
		return nil, nil, de
	}
	switch r.Security {
	case SecurityTLS:
		tc := tls.Client(conn, r.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(failure(StageTLS, ctxErr(ctx, err)))
		}
		c = smtp.NewClient(tc)
	case SecuritySTARTTLS:
		// go-smtp greets as "localhost" before STARTTLS; the EHLO that
		// counts, over TLS, gives LocalName below. The handshake itself
		// happens with that EHLO, so a certificate the roots do not
		// verify fails there.
		if c, err = smtp.NewClientStartTLS(conn, r.tlsConfig); err != nil {
			return fail(failure(StageStartTLS, ctxErr(ctx, err)))
		}
	default:
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = r.Timeout
	c.SubmissionTimeout = r.Timeout
	closeConn = func() {
		c.Close()
		stop()
		conn.Close()
	}
	if err := c.Hello(r.LocalName); err != nil {
		closeConn()
		stage := StageHello
		if r.Security == SecuritySTARTTLS {
			stage = StageStartTLS
		}
		return nil, nil, failure(stage, ctxErr(ctx, err))
	}
	if r.Username != "" {
		if !c.SupportsAuth(sasl.Plain) {
			closeConn()
			return nil, nil, failure(StageAuth, errors.New("the relay does not offer AUTH PLAIN"))
		}
		if err := c.Auth(sasl.NewPlainClient("", r.Username, r.Password)); err != nil {
			closeConn()
			return nil, nil, failure(StageAuth, ctxErr(ctx, err))
		}
	}
	return c, closeConn, nil
}

// Probe opens a session with the relay (connection, TLS, EHLO, AUTH when
// configured) and ends it with QUIT, sending nothing: what `revokd check`
// tries. It needs no Store. Its outcome is recorded in Health like a delivery's.
func (s *Sender) Probe(ctx context.Context) error {
	r, err := s.resolveRelay()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	c, closeConn, err := r.dial(ctx)
	r.Health.record(r.Now(), err)
	if err != nil {
		return err
	}
	defer closeConn()
	_ = c.Quit()
	return nil
}

// deliver hands msg to the relay in one SMTP session.
//
// QUIRK: RFC 3834 advises a null envelope sender (MAIL FROM:<>) for
// automatic replies. The desk's own address is used instead: submission
// relays refuse a null sender from an authenticated client, and a
// notification that cannot be delivered must come back to the desk (its
// mailbox files the bounce as an automatic mail and never answers it, so
// no loop can start).
func (r *sender) deliver(ctx context.Context, msg *message) error {
	c, closeConn, err := r.dial(ctx)
	if err != nil {
		return err
	}
	defer closeConn()
	var opts *smtp.MailOptions
	if msg.utf8 {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			de := failure(StageMail, fmt.Errorf("the relay does not offer SMTPUTF8, which the address %q needs", msg.to))
			de.Permanent = true
			return de
		}
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(r.from.Address, opts); err != nil {
		return failure(StageMail, ctxErr(ctx, err))
	}
	if err := c.Rcpt(msg.to, nil); err != nil {
		return failure(StageRcpt, ctxErr(ctx, err))
	}
	w, err := c.Data()
	if err != nil {
		return failure(StageData, ctxErr(ctx, err))
	}
	if _, err := io.Copy(w, bytes.NewReader(msg.data)); err != nil {
		return failure(StageData, ctxErr(ctx, err))
	}
	if err := w.Close(); err != nil {
		return failure(StageData, ctxErr(ctx, err))
	}
	// The relay has the message: what QUIT says no longer matters.
	_ = c.Quit()
	return nil
}

// ctxErr names the context's end as the cause of a broken connection,
// which otherwise reads "use of closed network connection".
func ctxErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return fmt.Errorf("%w (%v)", cause, err)
	}
	return err
}
