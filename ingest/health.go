package ingest

import (
	"errors"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// SessionState is where the mailbox's connection stands.
type SessionState string

// The states of the mailbox's connection.
const (
	// SessionStarting: Run has not finished its first connection yet.
	SessionStarting SessionState = "starting"
	// SessionReady: logged in, the mailbox selected.
	SessionReady SessionState = "ready"
	// SessionAuthFailed: the server refused the credentials. Run retries
	// on the long AuthRetry delay rather than hammering the server (and
	// having the account locked).
	SessionAuthFailed SessionState = "auth_failed"
	// SessionDown: the last connection failed or ended with an error; Run
	// reconnects with backoff.
	SessionDown SessionState = "down"
)

// Health is what the mailbox's connection last showed, for readiness
// checks and metrics.
type Health struct {
	State SessionState
	// Since is when State began.
	Since time.Time
	// LastError is why the last connection failed or ended ("" while
	// ready).
	LastError string
	// LastActivity is when the mailbox was last listed, or the server
	// last answered an IDLE or a poll: a session that is ready but whose
	// activity is older than ActivityWindow is stuck.
	LastActivity time.Time
	// ActivityWindow is the longest quiet time a working session has:
	// the IDLE restart or poll interval, plus a margin.
	ActivityWindow time.Duration
	// AuthFailures counts the connections the server refused the
	// credentials of.
	AuthFailures uint64
	// LastSuccess is when the mailbox was last listed in full.
	LastSuccess time.Time
}

// AuthError is a connection's failure to authenticate: the server refused
// the credentials (or the way to present them). Retrying soon will not
// help; an operator must fix the secret.
type AuthError struct{ Err error }

// Error returns the server's refusal.
func (e *AuthError) Error() string { return "authentication refused: " + e.Err.Error() }

// Unwrap returns the refusal.
func (e *AuthError) Unwrap() error { return e.Err }

// IsAuthError reports whether err is, or wraps, an *AuthError.
func IsAuthError(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// authFailure wraps err in an *AuthError when it is the server's answer to
// the authentication (a NO or BAD status), and returns it as is otherwise
// (a connection cut is not a refusal).
func authFailure(err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return &AuthError{Err: err}
	}
	return err
}

// healthState is the Mailbox's Health, shared by Run's goroutine and the
// readers.
type healthState struct {
	mu sync.Mutex
	h  Health
}

func (s *healthState) get() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h
}

// set moves to state, reporting whether it changed.
func (s *healthState) set(state SessionState, err error, now time.Time) (changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed = s.h.State != state
	if changed {
		s.h.State, s.h.Since = state, now
	}
	s.h.LastError = ""
	if err != nil {
		s.h.LastError = err.Error()
	}
	if state == SessionAuthFailed {
		s.h.AuthFailures++
	}
	if state == SessionReady {
		s.h.LastActivity = now
	}
	return changed
}

// active records that the server answered.
func (s *healthState) active(now time.Time, listed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h.LastActivity = now
	if listed {
		s.h.LastSuccess = now
	}
}

// Health returns what the connection last showed. It is safe to call while
// Run runs.
func (m *Mailbox) Health() Health {
	h := m.health.get()
	if h.State == "" {
		h.State = SessionStarting
	}
	quiet := m.cfg.PollInterval
	if m.cfg.IdleRestart > quiet {
		quiet = m.cfg.IdleRestart
	}
	// A poll or an IDLE restart, then a listing that may take a while on
	// a full mailbox.
	h.ActivityWindow = quiet + time.Minute
	return h
}
