// Reading the revocation mailbox over IMAP.
//
// A Mailbox watches one IMAP folder and hands every message in it, oldest
// UID first, to a Handler; the handler's answer says where the message goes
// (Processed, Rejected) or that it stays for a later retry (Leave):
//
//	mb, err := ingest.NewMailbox(ingest.MailboxConfig{
//		Address:  "imap.example.fr:993",
//		Security: ingest.SecurityTLS,
//		Username: "revocation@example.fr",
//		Password: password,
//		Logger:   logger,
//	})
//	if err != nil {
//		return err
//	}
//	err = mb.Run(ctx, handler) // returns ctx.Err() once ctx ends
//
// # Delivery guarantee
//
// A message leaves the mailbox only after Handler.Handle has returned
// Processed or Rejected with a nil error, that is after the handler says the
// message's outcome is committed. Every failure between the handler's commit
// and the move (connection cut, crash, server error) leaves the message in
// place, and it is handed over again later: delivery is at least once, never
// at most once. Handlers must therefore be idempotent, keyed on
// (Mailbox, UIDVALIDITY, UID) and, because a UIDVALIDITY change renumbers
// every message, on the message bytes too (a hash of Raw).
//
// Mailbox keeps one piece of state between sessions, the retry schedule of
// the messages the handler failed on (see Handler errors below). Otherwise,
// since handled mail is moved out, every message still present is either new
// or was handled but not moved. The UIDVALIDITY of each session is passed
// along with every Mail and a change is logged and counted in Stats; it
// clears the retry schedule, and otherwise changes nothing in what is handed
// over: the handler's own keys decide whether a message was seen.
// A server changes UIDVALIDITY under a session by dropping the connection;
// Dovecot does so only at the session's next command, not during IDLE, so
// the change shows at the next delivery or IdleRestart at the latest.
//
// # Session
//
// Run connects (implicit TLS, STARTTLS, or plaintext on loopback only),
// authenticates with PLAIN, LOGIN or XOAUTH2, creates the missing folders,
// selects the mailbox and then repeats: list every UID (UID SEARCH ALL),
// and take the messages in batches of up to metaBatch, in UID order: fetch
// their sizes and dates with one FETCH, download the bodies of those under
// MaxMessageBytes with one FETCH (over the cap, the handler gets
// Mail.OverCap and the body is never downloaded), call the handler for each,
// up to Parallel calls at once, and move the messages answered for with one
// MOVE per destination folder, metaBatch at a time and once the pass is
// through; the next batch is fetched and the answered messages moved while
// the handler calls run. Then wait for new mail with IDLE (or NOOP polling
// when the server lacks IDLE) and list again. A batch is whatever is
// there: a single new message is handled at once. The mailbox is listed anew after every wait rather than trusting
// EXISTS counts: Dovecot, for one, shows mail delivered through another
// connection only once the session is told (NOOP or IDLE), and a UID FETCH
// for such a message silently returns nothing. A listed message that a
// FETCH does not return is checked again (NOOP, then UID SEARCH): if it is
// gone, another client expunged it and it is logged and counted; if it is
// still there, the session is restarted rather than the message skipped. A
// message another client expunges after its batch was downloaded is still
// handed over; its move then finds nothing to move.
//
// Moves use MOVE; without it, UID COPY, STORE +FLAGS \Deleted and UID
// EXPUNGE (UIDPLUS). A server without UIDPLUS only has EXPUNGE, which removes
// every message flagged \Deleted, including ones that another client flagged
// and nobody has handled yet: the session then expunges only when every
// \Deleted message in the mailbox is one it has already copied out, and
// otherwise leaves its copies flagged until that holds (a later session may
// copy them a second time; the handler sees them again).
//
// Any network, server, TLS or authentication error ends the session; Run
// reconnects after an exponential backoff with full jitter, reset once a
// session has been through the mailbox without a handler error, or has
// handled a message (handler success, then the move or the Leave carried
// out) before it ended.
//
// # Handler errors
//
// A handler error cannot tell a store that is down for everyone from a
// message that will fail every time (a row it names is corrupt, a key
// conflicts). Both are handled by two rules:
//
//   - Each message the handler failed on gets its own retry schedule, kept by
//     the Mailbox across sessions and keyed by UIDVALIDITY and UID: it is not
//     handed over again before a delay drawn like the reconnect backoff
//     (from Backoff.Min, doubling up to Backoff.Max, full jitter) and
//     doubling with each failure, and the pass goes on with the messages
//     behind it. A failing message thus never holds up the others, and is
//     retried less and less often, without end: whether to give up on it is
//     the handler's call (it answers Rejected, not an error). A handler
//     success forgets the schedule; so does the message leaving the mailbox,
//     and a UIDVALIDITY change forgets all of them. The schedule holds at
//     most one entry per message in the mailbox.
//   - The session ends, and Run backs off as for any error, when every
//     handler call of a pass failed, or when maxHandlerErrorStreak calls in
//     a row (in UID order) failed; with Parallel above 1 the calls already
//     under way then finish first, and the messages answered for are
//     moved. The backoff keeps growing unless the session handled a
//     message before, so a store that is down costs a few handler calls per
//     session, with sessions further and further apart, rather than one
//     call (and one download) per message in the mailbox.
//
// A message answered Leave is not a failure: it is handed over again after
// LeaveRetry within a session, or at once by the next session.
//
// # Security
//
// Passwords, tokens and message contents are never logged. Certificates are
// checked against TLSConfig's roots (the system's by default). Plaintext
// ("none") is refused for anything but a loopback address. Messages are
// fetched with BODY.PEEK, so the \Seen flag is left alone. A message body is
// held in memory whole: MaxMessageBytes bounds it.

package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// Security says how a Mailbox protects its IMAP connection.
type Security string

// The connection security modes.
const (
	// SecurityTLS is implicit TLS from the first byte (usually port 993).
	SecurityTLS Security = "tls"
	// SecurityStartTLS upgrades a plaintext connection (usually port 143)
	// with STARTTLS before authenticating; a server that does not offer it
	// is refused.
	SecurityStartTLS Security = "starttls"
	// SecurityNone sends everything, password included, in clear. It is
	// accepted only for a loopback address (a local Dovecot, tests).
	SecurityNone Security = "none"
)

// Defaults and bounds of MailboxConfig.
const (
	defaultMailbox         = "INBOX"
	defaultProcessedFolder = "Processed"
	defaultRejectedFolder  = "Rejected"

	// MaxMessageBytes defaults to DefaultMaxMessageBytes, ParseMessage's
	// own cap: a bigger message would be refused by the MIME walk anyway.

	// maxMaxMessageBytes bounds MaxMessageBytes itself: a message is held in
	// memory whole, and the MIME walk makes copies of its parts.
	maxMaxMessageBytes = 1 << 30

	defaultPollInterval = 30 * time.Second
	// minPollInterval keeps a misconfigured poller from hammering a server.
	minPollInterval = 100 * time.Millisecond

	defaultIdleRestart = 25 * time.Minute
	// maxIdleRestart stays under the 30 minutes after which RFC 9051
	// allows a server to drop an idle client.
	maxIdleRestart = 29 * time.Minute

	defaultBackoffMin = time.Second
	defaultBackoffMax = 2 * time.Minute

	defaultLeaveRetry = 5 * time.Minute

	// defaultAuthRetry is the wait after the server refused the
	// credentials: a wrong password does not fix itself, and servers lock
	// accounts that keep failing.
	defaultAuthRetry = 5 * time.Minute

	// dialTimeout bounds the TCP connect; go-imap bounds every response
	// (30 s) and literal (5 min) read after that.
	dialTimeout = 30 * time.Second

	// metaBatch is how many messages a pass takes at a time: one UID FETCH
	// of their sizes and dates, one of their bodies (see fetchBatchBytes),
	// and, as their handler calls return, one MOVE per destination folder.
	// Batches save the round trips and Dovecot's per-command work (each
	// MOVE rewrites the maildir's index) of a message at a time on a full
	// mailbox: measured on Dovecot 2.3, its imap process spent 5.7 ms of
	// CPU per message one at a time, 0.4 ms in batches. A pass never waits
	// to fill one, so a single new message is handled at once.
	metaBatch = 64

	// fetchBatchBytes bounds the bodies (by RFC822.SIZE) one FETCH
	// downloads, and so the bodies held in memory while their handler
	// calls run; a message bigger than that is fetched alone.
	fetchBatchBytes = 64 << 20

	// maxParallel bounds Parallel: more handler calls at once than
	// messages in a batch would never run.
	maxParallel = metaBatch

	// maxHandlerErrorStreak is how many handler calls in a row may fail
	// before the session ends and Run backs off. A store that is down fails
	// every message: stopping after a few keeps an outage from costing one
	// download and one call per message in the mailbox at every pass, while
	// a couple of messages that fail on their own, side by side, still do
	// not end the session.
	maxHandlerErrorStreak = 3
)

// MailboxConfig configures a Mailbox. Zero values take the documented
// defaults.
type MailboxConfig struct {
	// Address is the server's host:port. Required.
	Address string
	// Security is the connection's protection; empty means SecurityTLS.
	Security Security
	// Username is the login name (for XOAUTH2, the mailbox's address).
	// Required.
	Username string
	// Password authenticates with AUTHENTICATE PLAIN when the server offers
	// it, otherwise LOGIN. Exactly one of Password and TokenSource is set.
	Password string
	// TokenSource, when set, authenticates with SASL XOAUTH2 (Microsoft 365,
	// Gmail) instead of PLAIN or LOGIN. It is called once per connection and
	// must return a valid (refreshed if need be) OAuth 2.0 access token.
	TokenSource func(ctx context.Context) (string, error)
	// PasswordSource, when set, is called once per connection for the
	// password instead of Password (a secret file an operator may fix
	// while revokd runs). At most one of Password, PasswordSource and
	// TokenSource is set.
	PasswordSource func(ctx context.Context) (string, error)
	// TLSConfig configures TLS and STARTTLS. Nil means the system roots,
	// with the server name taken from Address. It must be nil with
	// SecurityNone.
	TLSConfig *tls.Config

	// Mailbox is the folder read; default "INBOX".
	Mailbox string
	// ProcessedFolder receives the messages the handler processed; default
	// "Processed".
	ProcessedFolder string
	// RejectedFolder receives the messages the handler rejected; default
	// "Rejected". The three folders must differ, and are created when
	// missing.
	RejectedFolder string

	// MaxMessageBytes is the largest message (by the server's RFC822.SIZE)
	// that is downloaded; a bigger one reaches the handler as
	// Mail{OverCap: true} with no body. Zero means DefaultMaxMessageBytes;
	// at most 1 GiB.
	MaxMessageBytes int64

	// PollInterval is how often the mailbox is checked when the server lacks
	// IDLE; default 30 s, at least 100 ms.
	PollInterval time.Duration
	// IdleRestart ends an IDLE and lists the mailbox again after this long,
	// before servers' 30-minute inactivity timeout; default 25 min, at most
	// 29 min.
	IdleRestart time.Duration
	// LeaveRetry is how long a message the handler answered Leave for is
	// left alone within a session; default 5 min. A new session hands it
	// over again at once.
	LeaveRetry time.Duration
	// Backoff bounds the delay before reconnecting after an error: it
	// starts at Min and doubles up to Max, each delay drawn uniformly below
	// the current bound. Defaults 1 s and 2 min. Each message the handler
	// failed on is retried on its own schedule with the same bounds.
	Backoff struct{ Min, Max time.Duration }
	// AuthRetry is the wait before connecting again after the server
	// refused the credentials; default 5 min.
	AuthRetry time.Duration

	// Parallel is how many messages are handed to the Handler at once;
	// 0 means 1: one call at a time, in UID order. With more, the Handler
	// must be safe for concurrent use: the calls start in UID order but
	// overlap and end in any order, so their outcomes may be committed in
	// any order. A message is moved only after its own call returned. At
	// most 64.
	Parallel int

	// Logger receives the session's events; nil discards them. It never
	// receives passwords, tokens or message contents.
	Logger *slog.Logger
}

// ConfigError reports an invalid MailboxConfig field.
type ConfigError struct {
	Field string // the MailboxConfig field, e.g. "Security"
	Err   error
}

// Error names the field and the reason.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("ingest: invalid MailboxConfig.%s: %v", e.Field, e.Err)
}

// Unwrap returns the reason, for errors.Is (ErrPlaintextNotLoopback).
func (e *ConfigError) Unwrap() error { return e.Err }

// ErrPlaintextNotLoopback is the ConfigError reason for SecurityNone with an
// address that is not loopback.
var ErrPlaintextNotLoopback = errors.New(`security "none" is allowed only for a loopback address`)

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Err: fmt.Errorf(format, args...)}
}

// withDefaults returns a copy of cfg with its zero values filled in.
func (cfg MailboxConfig) withDefaults() MailboxConfig {
	if cfg.Security == "" {
		cfg.Security = SecurityTLS
	}
	if cfg.Mailbox == "" {
		cfg.Mailbox = defaultMailbox
	}
	if cfg.ProcessedFolder == "" {
		cfg.ProcessedFolder = defaultProcessedFolder
	}
	if cfg.RejectedFolder == "" {
		cfg.RejectedFolder = defaultRejectedFolder
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.IdleRestart == 0 {
		cfg.IdleRestart = defaultIdleRestart
	}
	if cfg.LeaveRetry == 0 {
		cfg.LeaveRetry = defaultLeaveRetry
	}
	if cfg.AuthRetry == 0 {
		cfg.AuthRetry = defaultAuthRetry
	}
	if cfg.Backoff.Min == 0 {
		cfg.Backoff.Min = defaultBackoffMin
	}
	if cfg.Backoff.Max == 0 {
		cfg.Backoff.Max = max(defaultBackoffMax, cfg.Backoff.Min)
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// validate checks a config that went through withDefaults.
func (cfg *MailboxConfig) validate() error {
	host, port, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return configErr("Address", "want host:port: %w", err)
	}
	if host == "" || port == "" {
		return configErr("Address", "want host:port, got %q", cfg.Address)
	}
	switch cfg.Security {
	case SecurityTLS, SecurityStartTLS:
	case SecurityNone:
		if !isLoopback(host) {
			return &ConfigError{Field: "Security", Err: ErrPlaintextNotLoopback}
		}
		if cfg.TLSConfig != nil {
			return configErr("TLSConfig", "set, but Security is %q", SecurityNone)
		}
	default:
		return configErr("Security", "unknown mode %q (want tls, starttls or none)", cfg.Security)
	}
	if cfg.Username == "" {
		return configErr("Username", "empty")
	}
	secrets := 0
	for _, set := range []bool{cfg.Password != "", cfg.PasswordSource != nil, cfg.TokenSource != nil} {
		if set {
			secrets++
		}
	}
	switch {
	case secrets == 0:
		return configErr("Password", "neither Password, PasswordSource nor TokenSource is set")
	case secrets > 1:
		return configErr("TokenSource", "more than one of Password, PasswordSource and TokenSource is set")
	}
	if cfg.AuthRetry < 0 {
		return configErr("AuthRetry", "negative (%v)", cfg.AuthRetry)
	}
	folders := []struct{ field, name string }{
		{"Mailbox", cfg.Mailbox},
		{"ProcessedFolder", cfg.ProcessedFolder},
		{"RejectedFolder", cfg.RejectedFolder},
	}
	for i, f := range folders {
		if strings.ContainsAny(f.name, "\x00\r\n") {
			return configErr(f.field, "%q contains a control character", f.name)
		}
		for _, g := range folders[:i] {
			if sameFolder(f.name, g.name) {
				return configErr(f.field, "%q is also %s", f.name, g.field)
			}
		}
	}
	if cfg.MaxMessageBytes < 0 || cfg.MaxMessageBytes > maxMaxMessageBytes {
		return configErr("MaxMessageBytes", "%d is outside 1..%d", cfg.MaxMessageBytes, maxMaxMessageBytes)
	}
	if cfg.PollInterval < minPollInterval {
		return configErr("PollInterval", "%v is below %v", cfg.PollInterval, minPollInterval)
	}
	if cfg.IdleRestart < 0 || cfg.IdleRestart > maxIdleRestart {
		return configErr("IdleRestart", "%v is outside 0..%v", cfg.IdleRestart, maxIdleRestart)
	}
	if cfg.LeaveRetry < 0 {
		return configErr("LeaveRetry", "negative (%v)", cfg.LeaveRetry)
	}
	if cfg.Backoff.Min < 0 || cfg.Backoff.Max < cfg.Backoff.Min {
		return configErr("Backoff", "want 0 < Min <= Max, got Min %v, Max %v", cfg.Backoff.Min, cfg.Backoff.Max)
	}
	if cfg.Parallel < 1 || cfg.Parallel > maxParallel {
		return configErr("Parallel", "%d is outside 0..%d (0 means 1)", cfg.Parallel, maxParallel)
	}
	return nil
}

// isLoopback reports whether host is a loopback IP literal or "localhost".
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// sameFolder compares folder names as a server would: INBOX is
// case-insensitive (RFC 9051 section 5.1), other names are not.
func sameFolder(a, b string) bool {
	if strings.EqualFold(a, "INBOX") || strings.EqualFold(b, "INBOX") {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// Mail is one message of the mailbox, as handed to a Handler.
type Mail struct {
	// Mailbox is the folder the message is in (MailboxConfig.Mailbox).
	Mailbox string
	// UIDValidity and UID identify the message on the server: the pair is
	// unique for the mailbox's lifetime, unless the server changes
	// UIDVALIDITY, which renumbers everything.
	UIDValidity uint32
	UID         uint32
	// Size is the server's RFC822.SIZE.
	Size int64
	// InternalDate is when the server received the message.
	InternalDate time.Time
	// Raw is the whole message as stored (RFC 5322, CRLF line ends); nil
	// when OverCap.
	Raw []byte
	// OverCap reports a message bigger than MaxMessageBytes: it was not
	// downloaded.
	OverCap bool
	// Header is the header section of a message over the cap (IMAP
	// BODY.PEEK[HEADER], at most MaxHeaderFetchBytes), so that it can be
	// recorded and its sender answered; nil when the server did not
	// return it, and for a message under the cap (Raw holds it).
	Header []byte
}

// MaxHeaderFetchBytes bounds the header section fetched for a message
// over the size cap: the bound of ParseMessage's header parser, which
// long Received, DKIM and ARC chains stay well under.
const MaxHeaderFetchBytes = maxHeaderBytes

// Disposition is what a Handler wants done with a message.
type Disposition int

// The dispositions.
const (
	// Leave keeps the message in the mailbox, to be handed over again after
	// LeaveRetry or in the next session.
	Leave Disposition = iota
	// Processed moves the message to ProcessedFolder.
	Processed
	// Rejected moves the message to RejectedFolder.
	Rejected
)

var dispositionNames = [...]string{Leave: "leave", Processed: "processed", Rejected: "rejected"}

// String returns "leave", "processed" or "rejected".
func (d Disposition) String() string {
	if d >= 0 && int(d) < len(dispositionNames) {
		return dispositionNames[d]
	}
	return fmt.Sprintf("Disposition(%d)", int(d))
}

// Handler decides what becomes of each message.
type Handler interface {
	// Handle records the mail's outcome durably and returns where the mail
	// goes. It must be idempotent: after a crash the same mail (same
	// UIDVALIDITY/UID, or same bytes after a UIDVALIDITY change) comes
	// again. A non-nil error is retryable (store down): the mail stays in
	// the mailbox and is handed over again after its own growing delay,
	// while the mails behind it are handed over; when every call of a pass
	// fails, the session backs off. An error is retried without end, so a
	// mail that can never be handled is answered Rejected, not an error.
	// With MailboxConfig.Parallel at 1, the default, Handle is called one
	// message at a time, in UID order; with more, up to Parallel calls run
	// at once on goroutines Run starts and waits for, and Handle must be
	// safe for concurrent use.
	Handle(ctx context.Context, m *Mail) (Disposition, error)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, m *Mail) (Disposition, error)

// Handle calls f(ctx, m).
func (f HandlerFunc) Handle(ctx context.Context, m *Mail) (Disposition, error) { return f(ctx, m) }

// Stats counts a Mailbox's activity since NewMailbox, for metrics.
type Stats struct {
	Connects           uint64 // sessions that logged in and selected the mailbox
	ConnectFailures    uint64 // connection attempts that failed before that
	Reconnects         uint64 // sessions (or attempts) that ended with an error and were retried
	Fetched            uint64 // messages handed to the handler, OverCap ones included
	OverCap            uint64 // messages handed over without their body
	Processed          uint64 // messages moved to ProcessedFolder
	Rejected           uint64 // messages moved to RejectedFolder
	Left               uint64 // Leave answers
	HandlerErrors      uint64 // Handle calls that returned an error
	Deferred           uint64 // times a listed message was passed over because its retry after a handler error was not due
	Failing            uint64 // messages the handler last failed on, waiting for their retry (a gauge, not a counter)
	Vanished           uint64 // listed messages that another client expunged before they were fetched
	UIDValidityChanges uint64 // sessions that found a UIDVALIDITY different from the previous one's
	UIDValidity        uint32 // the latest session's UIDVALIDITY (0 before the first)
}

type counters struct {
	connects, connectFailures, reconnects       atomic.Uint64
	fetched, overCap, processed, rejected, left atomic.Uint64
	handlerErrors, vanished, uidValidityChanges atomic.Uint64
	deferred, failing                           atomic.Uint64
	uidValidity                                 atomic.Uint32
}

// Mailbox reads one IMAP folder and hands each message to a Handler. A
// message leaves the folder only after the handler returned Processed or
// Rejected without error; any failure after that (connection cut, crash)
// leaves it in place to be handed over again, so delivery is at least once
// and handlers must be idempotent, keyed on UIDVALIDITY and UID and on the
// message bytes (UIDVALIDITY changes renumber everything). The comment at
// the top of imap.go describes the session in full.
type Mailbox struct {
	cfg     MailboxConfig
	log     *slog.Logger
	running atomic.Bool
	stats   counters
	health  healthState
	// retries outlives sessions: a new session must not hand a failing
	// message over again before its delay is up. Only Run's goroutine
	// uses it.
	retries *retrySchedule
	// backoffRand, when set, replaces the reconnect backoff's jitter
	// (tests).
	backoffRand func(n int64) int64
}

// NewMailbox checks cfg and returns a Mailbox; it does not connect. An
// invalid config yields a *ConfigError naming the field.
func NewMailbox(cfg MailboxConfig) (*Mailbox, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("imap_address", cfg.Address, "mailbox", cfg.Mailbox)
	return &Mailbox{cfg: cfg, log: log, retries: newRetrySchedule(cfg.Backoff.Min, cfg.Backoff.Max)}, nil
}

// Stats returns a snapshot of the Mailbox's counters. It is safe to call
// while Run runs.
func (m *Mailbox) Stats() Stats {
	s := &m.stats
	return Stats{
		Connects:           s.connects.Load(),
		ConnectFailures:    s.connectFailures.Load(),
		Reconnects:         s.reconnects.Load(),
		Fetched:            s.fetched.Load(),
		OverCap:            s.overCap.Load(),
		Processed:          s.processed.Load(),
		Rejected:           s.rejected.Load(),
		Left:               s.left.Load(),
		HandlerErrors:      s.handlerErrors.Load(),
		Deferred:           s.deferred.Load(),
		Failing:            s.failing.Load(),
		Vanished:           s.vanished.Load(),
		UIDValidityChanges: s.uidValidityChanges.Load(),
		UIDValidity:        s.uidValidity.Load(),
	}
}

// ErrRunning is returned by Run when the Mailbox is already running: two
// sessions on one Mailbox would hand the same messages over concurrently.
var ErrRunning = errors.New("ingest: Mailbox is already running")

// Run connects, and until ctx ends: fetches every message present in the
// mailbox in UID order and in batches (the body only when RFC822.SIZE is
// within MaxMessageBytes), calls h.Handle (up to Parallel calls at once),
// moves the messages as the handler says (MOVE; else COPY, STORE \Deleted
// and UID EXPUNGE; else a guarded EXPUNGE), then waits for new mail with
// IDLE (or polls) and lists the mailbox again. Any error but the
// handler's ends the connection and Run reconnects after an exponential
// backoff with full jitter. A message the handler fails on is retried
// after its own growing delay while the others go on; the connection ends,
// with the same backoff, only when every handler call of a pass failed or
// maxHandlerErrorStreak calls in a row did (the comment at the top of
// imap.go has the details).
//
// It returns ctx.Err() when ctx ends, and an error without running when h is
// nil or another Run is in progress. Ending ctx closes the connection at
// once, even between the handler's answer and the move: the message then
// comes again at the next Run.
func (m *Mailbox) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("ingest: Run with a nil Handler")
	}
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer m.running.Store(false)

	bo := newBackoff(m.cfg.Backoff.Min, m.cfg.Backoff.Max)
	if m.backoffRand != nil {
		bo.rand = m.backoffRand
	}
	for {
		res, err := m.session(ctx, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if res.healthy(err) {
			bo.reset()
		}
		delay := bo.next()
		if IsAuthError(err) {
			// Logged once per change: the state, the metric and the
			// readiness check say it meanwhile.
			delay = m.cfg.AuthRetry
			if m.health.set(SessionAuthFailed, err, time.Now()) {
				m.log.Error("the IMAP server refused the credentials; fix the secret, revokd tries again periodically",
					"err", err, "retry_every", delay)
			} else {
				m.log.Debug("the IMAP server still refuses the credentials", "err", err, "delay", delay)
			}
		} else {
			m.health.set(SessionDown, err, time.Now())
			m.log.Warn("imap session ended, reconnecting", "err", err, "delay", delay)
		}
		m.stats.reconnects.Add(1)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// handlerError marks a session ended by the handler rather than the server.
type handlerError struct {
	uid imap.UID
	err error
}

func (e *handlerError) Error() string {
	return fmt.Sprintf("handler failed on UID %d: %v", e.uid, e.err)
}

func (e *handlerError) Unwrap() error { return e.err }

// errNotReturned means a FETCH did not return a message that UID SEARCH
// listed.
var errNotReturned = errors.New("message listed but not returned by FETCH")

// session is one connection's state.
type session struct {
	m           *Mailbox
	h           Handler
	c           *imapclient.Client
	caps        imap.CapSet
	newMail     <-chan struct{}
	uidValidity uint32
	// left holds the messages answered Leave, until when to leave them.
	left map[imap.UID]time.Time
	// heldUntil is the earliest time a message the last pass held back
	// (left, or waiting for a retry) is due; zero when none was. Once
	// passed, even during the pass, the next pass starts at once.
	heldUntil time.Time
	// copied holds messages copied out and flagged \Deleted but not yet
	// expunged (servers without UIDPLUS): they are not handed over again in
	// this session.
	copied map[imap.UID]bool
	// handled reports a message handled without error and its answer
	// carried out, in this session.
	handled bool
}

// sessionResult says how far a session got before it ended.
type sessionResult struct {
	scanned bool // went through the whole mailbox at least once
	handled bool // the handler succeeded on a message and its answer was carried out
}

// healthy reports whether a session that ended with err showed the server
// and the handler working, so that the reconnect backoff starts over: it
// went through the mailbox and did not end on handler errors, or it handled
// a message. A message handled shows the store works: handler errors that
// ended such a session were the messages' own, and their schedules pace
// them.
func (r sessionResult) healthy(err error) bool {
	var herr *handlerError
	return r.handled || (r.scanned && !errors.As(err, &herr))
}

// session runs one connection until an error or the end of ctx.
func (m *Mailbox) session(ctx context.Context, h Handler) (res sessionResult, err error) {
	c, newMail, err := m.connect(ctx)
	if err != nil {
		m.stats.connectFailures.Add(1)
		return res, err
	}
	// Commands do not take a context: closing the connection is what makes
	// a blocked one return once ctx ends.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		stop()
		c.Close()
	}()

	s := &session{
		m:       m,
		h:       h,
		c:       c,
		newMail: newMail,
		left:    make(map[imap.UID]time.Time),
		copied:  make(map[imap.UID]bool),
	}
	if err := s.open(); err != nil {
		m.stats.connectFailures.Add(1)
		return res, err
	}
	m.stats.connects.Add(1)
	if m.health.set(SessionReady, nil, time.Now()) {
		m.log.Info("imap session ready")
	}
	for {
		// Drain before listing, not after: a notice arriving during the
		// scan then still ends the next wait at once.
		select {
		case <-newMail:
		default:
		}
		err := s.scan(ctx)
		res.handled = res.handled || s.handled
		if err != nil {
			return res, err
		}
		res.scanned = true
		m.health.active(time.Now(), true)
		if err := s.wait(ctx); err != nil {
			return res, err
		}
		m.health.active(time.Now(), false)
	}
}

// connect dials, secures and authenticates a connection. The returned
// channel receives a value whenever the server announces a new message
// count.
func (m *Mailbox) connect(ctx context.Context) (*imapclient.Client, <-chan struct{}, error) {
	cfg := &m.cfg
	newMail := make(chan struct{}, 1)
	opts := &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine, which must not block
			// nor send commands: only signal.
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}

	dialer := &net.Dialer{Timeout: dialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", cfg.Address)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", cfg.Address, err)
	}
	// The TLS handshake and the greeting do not take a context either.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var c *imapclient.Client
	switch cfg.Security {
	case SecurityTLS:
		tconn := tls.Client(conn, m.tlsConfig(true))
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("TLS handshake with %s: %w", cfg.Address, err)
		}
		c = imapclient.New(tconn, opts)
	case SecurityStartTLS:
		opts.TLSConfig = m.tlsConfig(false)
		// NewStartTLS fails when the server does not offer STARTTLS, and
		// refuses a PREAUTH greeting on the plaintext connection.
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("STARTTLS with %s: %w", cfg.Address, err)
		}
	default:
		c = imapclient.New(conn, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("greeting from %s: %w", cfg.Address, err)
	}
	if err := m.authenticate(ctx, c); err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, newMail, nil
}

func (m *Mailbox) tlsConfig(implicit bool) *tls.Config {
	var tc *tls.Config
	if m.cfg.TLSConfig != nil {
		tc = m.cfg.TLSConfig.Clone()
	} else {
		tc = new(tls.Config)
	}
	if tc.ServerName == "" {
		host, _, _ := net.SplitHostPort(m.cfg.Address)
		tc.ServerName = host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	if implicit && tc.NextProtos == nil {
		tc.NextProtos = []string{"imap"}
	}
	return tc
}

func (m *Mailbox) authenticate(ctx context.Context, c *imapclient.Client) error {
	cfg := &m.cfg
	caps := c.Caps()
	if caps == nil {
		return errors.New("reading server capabilities")
	}
	if cfg.TokenSource != nil {
		if !caps.Has(imap.AuthCap(xoauth2Mech)) {
			return errors.New("server does not offer AUTH=XOAUTH2")
		}
		token, err := cfg.TokenSource(ctx)
		if err != nil {
			return fmt.Errorf("getting an OAuth token: %w", err)
		}
		xc := newXOAUTH2Client(cfg.Username, token)
		if err := c.Authenticate(xc); err != nil {
			return authFailure(xc.wrap(err))
		}
		return nil
	}
	password := cfg.Password
	if cfg.PasswordSource != nil {
		p, err := cfg.PasswordSource(ctx)
		if err != nil {
			return fmt.Errorf("reading the password: %w", err)
		}
		password = p
	}
	if caps.Has(imap.AuthCap(sasl.Plain)) {
		if err := c.Authenticate(sasl.NewPlainClient("", cfg.Username, password)); err != nil {
			return authFailure(fmt.Errorf("AUTHENTICATE PLAIN as %q: %w", cfg.Username, err))
		}
		return nil
	}
	if caps.Has(imap.CapLoginDisabled) {
		return errors.New("server disables LOGIN and offers no AUTH=PLAIN")
	}
	if err := c.Login(cfg.Username, password).Wait(); err != nil {
		return authFailure(fmt.Errorf("LOGIN as %q: %w", cfg.Username, err))
	}
	return nil
}

// open creates missing folders and selects the mailbox.
func (s *session) open() error {
	cfg := &s.m.cfg
	s.caps = s.c.Caps()
	if s.caps == nil {
		return errors.New("reading server capabilities")
	}
	for _, name := range []string{cfg.Mailbox, cfg.ProcessedFolder, cfg.RejectedFolder} {
		if err := s.ensureFolder(name); err != nil {
			return err
		}
	}
	sel, err := s.c.Select(cfg.Mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("selecting %q: %w", cfg.Mailbox, err)
	}
	if sel.UIDValidity == 0 {
		// Without it, UIDs mean nothing across sessions.
		return fmt.Errorf("selecting %q: server sent no UIDVALIDITY", cfg.Mailbox)
	}
	s.uidValidity = sel.UIDValidity
	prev := s.m.stats.uidValidity.Swap(sel.UIDValidity)
	if prev != 0 && prev != sel.UIDValidity {
		s.m.stats.uidValidityChanges.Add(1)
		s.m.log.Warn("UIDVALIDITY changed: every message present is handed over again",
			"old_uidvalidity", prev, "uidvalidity", sel.UIDValidity)
	}
	s.m.log.Info("mailbox selected", "uidvalidity", sel.UIDValidity, "messages", sel.NumMessages,
		"idle", s.caps.Has(imap.CapIdle), "move", s.caps.Has(imap.CapMove), "uidplus", s.caps.Has(imap.CapUIDPlus))
	return nil
}

// ensureFolder creates name unless STATUS finds it. STATUS rather than LIST
// keeps wildcard characters in a name from matching other folders.
func (s *session) ensureFolder(name string) error {
	_, err := s.c.Status(name, &imap.StatusOptions{NumMessages: true}).Wait()
	if err == nil {
		return nil
	}
	var ierr *imap.Error
	if !errors.As(err, &ierr) {
		return fmt.Errorf("checking folder %q: %w", name, err)
	}
	if err := s.c.Create(name, nil).Wait(); err != nil {
		if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeAlreadyExists {
			return nil
		}
		return fmt.Errorf("creating folder %q: %w", name, err)
	}
	s.m.log.Info("created folder", "folder", name)
	return nil
}

// wait returns when the mailbox may have changed: new mail, the IDLE restart
// or poll interval, or a left or failing message's retry time.
func (s *session) wait(ctx context.Context) error {
	cfg := &s.m.cfg
	idle := s.caps.Has(imap.CapIdle)
	d := cfg.PollInterval
	if idle {
		d = cfg.IdleRestart
	}
	if next, ok := s.nextRetry(); ok {
		d = min(d, max(time.Until(next), 0))
	}
	timer := time.NewTimer(d)
	defer timer.Stop()

	if !idle {
		s.m.log.Debug("waiting for new mail", "mode", "poll", "for", d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.Closed():
			return errors.New("connection closed by the server")
		case <-timer.C:
		}
		// Dovecot shows other connections' deliveries only after a NOOP.
		if err := s.c.Noop().Wait(); err != nil {
			return fmt.Errorf("NOOP: %w", err)
		}
		return nil
	}

	cmd, err := s.c.Idle()
	if err != nil {
		return fmt.Errorf("starting IDLE: %w", err)
	}
	s.m.log.Debug("waiting for new mail", "mode", "idle", "for", d)
	var closed bool
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.c.Closed():
		closed = true
	case <-s.newMail:
	case <-timer.C:
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("ending IDLE: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("IDLE: %w", err)
	}
	if closed {
		return errors.New("connection closed by the server during IDLE")
	}
	return nil
}

// nextRetry returns the earliest time at which a left or failing message
// is due again; a past time (a message the last pass held back, due since)
// means at once.
func (s *session) nextRetry() (time.Time, bool) {
	now := time.Now()
	next, _ := s.m.retries.next(s.uidValidity, now)
	// A message held back by the last pass whose time came while the pass
	// ran is due now: without this it would wait for new mail or the next
	// IDLE restart.
	if !s.heldUntil.IsZero() && (next.IsZero() || s.heldUntil.Before(next)) {
		next = s.heldUntil
	}
	for _, t := range s.left {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next, !next.IsZero()
}
