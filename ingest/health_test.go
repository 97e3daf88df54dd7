package ingest

import (
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// A session that logged in is ready, with its activity dated; a refusal of
// the credentials is its own state, counted; a connection cut is not a
// refusal.
func TestHealthStates(t *testing.T) {
	var h healthState
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if !h.set(SessionReady, nil, t0) {
		t.Error("first ready: no change reported")
	}
	h.active(t0.Add(time.Minute), true)
	if got := h.get(); got.State != SessionReady || !got.LastActivity.Equal(t0.Add(time.Minute)) || !got.LastSuccess.Equal(t0.Add(time.Minute)) {
		t.Errorf("after a listing: %+v", got)
	}
	refused := authFailure(&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "Authentication failed."})
	if !IsAuthError(refused) {
		t.Fatalf("authFailure(NO) = %v, want an *AuthError", refused)
	}
	if cut := authFailure(errors.New("connection reset")); IsAuthError(cut) {
		t.Errorf("authFailure(connection reset) = %v, want it as is", cut)
	}
	if !h.set(SessionAuthFailed, refused, t0.Add(2*time.Minute)) || h.set(SessionAuthFailed, refused, t0.Add(3*time.Minute)) {
		t.Error("a refusal is a change once, not at each attempt")
	}
	if got := h.get(); got.AuthFailures != 2 || !got.Since.Equal(t0.Add(2*time.Minute)) || got.LastError == "" {
		t.Errorf("after two refusals: %+v, want 2 failures since the first", got)
	}
	m, err := NewMailbox(MailboxConfig{Address: "127.0.0.1:1", Security: SecurityNone, Username: "u", Password: "p", PollInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Health(); got.State != SessionStarting || got.ActivityWindow != defaultIdleRestart+time.Minute {
		t.Errorf("a new mailbox's Health = %+v, want starting with the IDLE restart plus a minute as window", got)
	}
}
