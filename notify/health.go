package notify

import (
	"errors"
	"sync"
	"time"
)

// RelayHealth records how the conversations with the relay went: whether
// the relay was reachable and accepted revokd at the last attempt, and how
// many deliveries ended each way. A nil *RelayHealth records nothing. It
// is safe for concurrent use.
type RelayHealth struct {
	mu       sync.Mutex
	at       time.Time
	err      error
	sent     uint64
	failures uint64
}

// relayStages are the stages whose failure says the relay is unreachable
// or refuses revokd itself, rather than one mail.
var relayStages = map[string]bool{StageConnect: true, StageTLS: true, StageHello: true, StageStartTLS: true, StageAuth: true}

// record notes a conversation's outcome.
func (h *RelayHealth) record(now time.Time, err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.at = now
	if err == nil {
		h.sent++
		h.err = nil
		return
	}
	h.failures++
	var de *DeliveryError
	if !errors.As(err, &de) || relayStages[de.Stage] {
		h.err = err
	} else {
		// The relay answered; this mail is the problem, not the relay.
		h.err = nil
	}
}

// Last returns when the relay was last talked to and, when it could not be
// reached or refused revokd then, why. A zero time means never.
func (h *RelayHealth) Last() (time.Time, error) {
	if h == nil {
		return time.Time{}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.at, h.err
}

// Counts returns the conversations that succeeded and those that failed
// (every stage), since the start.
func (h *RelayHealth) Counts() (succeeded, failed uint64) {
	if h == nil {
		return 0, 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sent, h.failures
}
