// Package notify delivers the outbox: the acknowledgements and results
// that the worker queued, in the same transaction as the outcome they
// announce, for the senders of revocation requests.
//
// A Sender claims one outbox mail at a time from the store for a lease,
// builds the message, hands it to the desk's SMTP relay (submission with
// implicit TLS, STARTTLS or, on loopback only, plain text; AUTH PLAIN when
// a username is set) and records the outcome: sent, retried later with a
// growing delay (a 4xx reply, a connection or TLS failure, a refusal at
// EHLO, AUTH or MAIL FROM, which an operator fixes in the relay's
// configuration), or failed for good (a 5xx reply to RCPT TO or to the
// message, an address revokd will not write to).
//
// Delivery is at least once. The store commits "sent" only after the
// relay accepted the message; a sender that dies in between leaves the
// mail claimed, and it is sent again when its lease expires. Both copies
// carry the same Message-ID, derived from the outbox row, so that the
// recipient's mail client can tell the second for what it is. Nothing is
// ever sent twice on purpose, and nothing is lost.
//
// The messages are automatic replies in the sense of RFC 3834: they carry
// "Auto-Submitted: auto-replied", answer the request mail by In-Reply-To
// and References, and are never addressed to the desk's own address (the
// worker, for its part, never answers mail that is itself automatic). The
// body is the text the worker wrote, French first then English, sent as
// text/plain in UTF-8 with quoted-printable transfer encoding.
//
// Security caveats: recipients and subjects come from mails that anyone
// can send. A recipient with a line break, a control character or more
// than one address is refused, never sent; the subject is decoded, its
// control characters replaced by spaces and re-encoded (RFC 2047), so
// that it cannot add a header line. The relay's certificate is verified
// against TLSConfig's roots (the system's when nil); plain text is refused
// unless the relay is on loopback.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/revokd/revokd/internal/redact"
	"github.com/revokd/revokd/queue"
)

// Store is what a Sender needs of the store; *queue.Store has it.
type Store interface {
	// ClaimOutbox hands out the next mail due for lease, or nil when
	// none is due.
	ClaimOutbox(ctx context.Context, lease time.Duration) (*queue.OutboxRow, error)
	// MarkSent records that the relay accepted the mail.
	MarkSent(ctx context.Context, id int64) error
	// MarkFailed records a failed delivery: retried later, unless
	// permanent or the mail has had all its attempts.
	MarkFailed(ctx context.Context, id int64, reason string, permanent bool) error
	// MarkSuppressed records a mail held back by the limits.
	MarkSuppressed(ctx context.Context, id int64, reason string) error
	// CountSent counts the mails sent lately, for the limits.
	CountSent(ctx context.Context, q queue.SentQuery) (int, error)
}

// Security is how the connection to the relay is protected.
type Security string

// The connection securities.
const (
	// SecurityTLS is implicit TLS from the first byte (port 465).
	SecurityTLS Security = "tls"
	// SecuritySTARTTLS upgrades a plain connection (port 587) before
	// anything else is said; a relay that does not offer STARTTLS is an
	// error, never a reason to go on in plain text.
	SecuritySTARTTLS Security = "starttls"
	// SecurityNone is plain text, allowed only to a relay on loopback
	// (a local MTA, tests, the demo).
	SecurityNone Security = "none"
)

// Defaults of a Sender's zero fields.
const (
	// DefaultPollInterval: the outbox is looked at this often when it is
	// empty. A claim is one indexed statement, and a holder gets the
	// acknowledgement a few seconds after the worker handled the mail.
	DefaultPollInterval = 5 * time.Second
	// DefaultTimeout bounds one delivery: connection, TLS, AUTH and the
	// relay's answer to the message. Relays that scan content answer in
	// seconds; a relay silent for two minutes is treated as down.
	DefaultTimeout = 2 * time.Minute
	// DefaultLease is how long a claimed mail is kept from other senders:
	// longer than a delivery and its mark, so that a live sender never
	// sees its mail handed to another.
	DefaultLease = 5 * time.Minute
)

// markTimeout bounds recording a delivery's outcome, which happens even
// when the sender is being stopped: a mail the relay accepted must be
// marked sent, or it goes out again after its lease.
const markTimeout = 30 * time.Second

// Sender delivers the outbox through an SMTP relay. Its fields are read
// by Run and SendNext and must not change while they run.
type Sender struct {
	// Store holds the outbox. Required.
	Store Store
	// Address is the relay, "host:port". Required.
	Address string
	// Security protects the connection; the zero value means
	// SecuritySTARTTLS. SecurityNone is refused unless Address is on
	// loopback.
	Security Security
	// TLSConfig verifies the relay. Nil means the system roots, the
	// host of Address as server name and TLS 1.2 at least; a config
	// without ServerName gets the host of Address.
	TLSConfig *tls.Config
	// Username and Password authenticate with AUTH PLAIN; empty
	// Username means no authentication.
	Username string
	Password string
	// From is the desk's address, "revocation@example.fr" or
	// "Name <revocation@example.fr>": the From header, the envelope
	// sender, and the domain of Message-IDs. Mail to it is never sent.
	// Required, ASCII.
	From string
	// LocalName is the name given in EHLO. Empty means the domain of
	// From.
	LocalName string
	// Templates render the mails written as data (every mail but those
	// of an older revokd, written as text). Nil means DefaultTemplates
	// with the desk's address.
	Templates *Templates
	// Limits bound the answers to senders; the zero value means
	// DefaultLimits.
	Limits Limits
	// Logger receives one line per delivery. Nil means no logging.
	Logger *slog.Logger
	// Now gives the Date header. Nil means time.Now.
	Now func() time.Time
	// PollInterval, Timeout and Lease: zero means DefaultPollInterval,
	// DefaultTimeout and DefaultLease. Lease must exceed Timeout.
	PollInterval time.Duration
	Timeout      time.Duration
	Lease        time.Duration
	// Health, when set, records how each conversation with the relay
	// went, for readiness checks and metrics.
	Health *RelayHealth
}

// sender is a Sender with its defaults filled in and checked.
type sender struct {
	Sender
	templates  *Templates
	limits     Limits
	from       *mail.Address
	fromDomain string
	host       string
	tlsConfig  *tls.Config
}

// resolve returns a copy of s with defaults filled in, or why s cannot
// send.
func (s *Sender) resolve() (*sender, error) {
	if s.Store == nil {
		return nil, errors.New("notify: no store")
	}
	return s.resolveRelay()
}

// resolveRelay is resolve without the store, for Probe.
func (s *Sender) resolveRelay() (*sender, error) {
	r := &sender{Sender: *s}
	if r.Logger == nil {
		r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.PollInterval <= 0 {
		r.PollInterval = DefaultPollInterval
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultTimeout
	}
	if r.Lease <= 0 {
		r.Lease = DefaultLease
	}
	if r.Lease <= r.Timeout {
		return nil, fmt.Errorf("notify: lease %v must exceed the delivery timeout %v", r.Lease, r.Timeout)
	}
	if r.Security == "" {
		r.Security = SecuritySTARTTLS
	}
	host, _, err := net.SplitHostPort(r.Address)
	if err != nil || host == "" {
		return nil, fmt.Errorf("notify: relay address %q: want host:port", r.Address)
	}
	r.host = host
	switch r.Security {
	case SecurityTLS, SecuritySTARTTLS:
	case SecurityNone:
		if !isLoopback(host) {
			return nil, fmt.Errorf("notify: security none is allowed only for a relay on loopback, not %q", host)
		}
	default:
		return nil, fmt.Errorf("notify: security %q: want tls, starttls or none", r.Security)
	}
	if r.Username == "" && r.Password != "" {
		return nil, errors.New("notify: a password without a username")
	}
	if r.from, err = mail.ParseAddress(r.From); err != nil {
		return nil, fmt.Errorf("notify: from address %q: %w", r.From, err)
	}
	if !isASCII(r.from.Address) {
		return nil, fmt.Errorf("notify: from address %q: must be ASCII", r.from.Address)
	}
	at := strings.LastIndexByte(r.from.Address, '@')
	if at <= 0 || at == len(r.from.Address)-1 {
		return nil, fmt.Errorf("notify: from address %q: no domain", r.from.Address)
	}
	r.fromDomain = strings.ToLower(r.from.Address[at+1:])
	if r.LocalName == "" {
		r.LocalName = r.fromDomain
	}
	r.templates = r.Templates
	if r.templates == nil {
		if r.templates, err = LoadTemplates("", TextConfig{Desk: r.from.Address}); err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
	}
	if r.limits, err = r.Limits.withDefaults(); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if r.TLSConfig != nil {
		r.tlsConfig = r.TLSConfig.Clone()
	} else {
		r.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if r.tlsConfig.ServerName == "" {
		r.tlsConfig.ServerName = host
	}
	return r, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Validate reports what makes s unable to send (a missing store or
// relay, plain text to a relay off loopback, a malformed From), so that
// a program can refuse to start rather than fail later.
func (s *Sender) Validate() error {
	_, err := s.resolve()
	return err
}

// Run sends the outbox until ctx is done: it sends every mail due, one
// after another, then looks again every PollInterval. A store that
// cannot be read is retried at the same pace. Run returns ctx's error
// when ctx is done, or at once when the Sender is misconfigured.
func (s *Sender) Run(ctx context.Context) error {
	r, err := s.resolve()
	if err != nil {
		return err
	}
	r.Logger.InfoContext(ctx, "sending notifications", "relay", r.Address, "security", string(r.Security))
	r.Logger.DebugContext(ctx, "notifications' sender", "from", r.from.Address)
	tick := time.NewTicker(r.PollInterval)
	defer tick.Stop()
	for {
		busy, err := r.sendNext(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.Logger.ErrorContext(ctx, "the outbox could not be read or updated; trying again", "err", err)
		}
		if busy && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// SendNext claims the next mail due and delivers it. It reports whether
// there was one; its error is the store's (the delivery's own outcome is
// recorded in the store, not returned). When ctx ends during a delivery,
// the mail is left to its lease.
func (s *Sender) SendNext(ctx context.Context) (bool, error) {
	r, err := s.resolve()
	if err != nil {
		return false, err
	}
	return r.sendNext(ctx)
}

func (r *sender) sendNext(ctx context.Context) (bool, error) {
	row, err := r.Store.ClaimOutbox(ctx, r.Lease)
	if err != nil || row == nil {
		return false, err
	}
	log := r.Logger.With("outbox", row.ID, "mail", row.MailID, "kind", row.Kind, "attempt", row.Attempts)
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()

	why, err := r.limits.suppression(ctx, r.Store, row, r.Now())
	if err != nil {
		// The mail stays claimed and is tried again after its lease.
		return true, fmt.Errorf("checking the limits for outbox %d: %w", row.ID, err)
	}
	if why != "" {
		// The reason names the address or its domain: it is kept in the
		// outbox and the audit log, and logged at DEBUG only.
		log.WarnContext(ctx, "notification suppressed by the abuse limits", "to_hash", redact.Address(row.To))
		log.DebugContext(ctx, "notification suppressed: reason", "reason", why)
		return true, r.Store.MarkSuppressed(markCtx, row.ID, why)
	}
	msg, err := r.compose(row)
	if err != nil {
		log.WarnContext(ctx, "notification refused", "err", err)
		return true, r.Store.MarkFailed(markCtx, row.ID, err.Error(), true)
	}
	dctx, cancelDelivery := context.WithTimeout(ctx, r.Timeout)
	err = r.deliver(dctx, msg)
	cancelDelivery()
	if ctx.Err() == nil {
		r.Health.record(r.Now(), err)
	}
	if err == nil {
		log.InfoContext(ctx, "notification sent", "to_hash", redact.Address(msg.to))
		log.DebugContext(ctx, "notification sent: recipient", "to", msg.to)
		return true, r.Store.MarkSent(markCtx, row.ID)
	}
	if ctx.Err() != nil {
		// Stopping: whether the relay took the message is unknown, so
		// the lease decides (at least once).
		log.InfoContext(ctx, "delivery interrupted; the mail is sent again after its lease", "err", err)
		return true, nil
	}
	var de *DeliveryError
	permanent := errors.As(err, &de) && de.Permanent
	if permanent {
		log.WarnContext(ctx, "notification refused by the relay", "to_hash", redact.Address(msg.to), "err", err)
	} else {
		log.WarnContext(ctx, "notification not delivered; will retry", "to_hash", redact.Address(msg.to), "err", err)
	}
	return true, r.Store.MarkFailed(markCtx, row.ID, err.Error(), permanent)
}
