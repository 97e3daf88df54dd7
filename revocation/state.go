package revocation

import "fmt"

// State is where a request stands. The values are a contract: they appear in
// `revokd queue list --json` and in the store.
type State string

// The states of a request.
const (
	// StateAccepted: the signer may revoke the certificate; not yet queued
	// for the CA.
	StateAccepted State = "accepted"
	// StateQueued: a revocation job waits for the CA to execute it.
	StateQueued State = "queued"
	// StateExecuted: the CA revoked the certificate.
	StateExecuted State = "executed"
	// StateRejected: verification or authorisation failed; an operator
	// reviews it.
	StateRejected State = "rejected"
	// StateDismissed: an operator confirmed the rejection.
	StateDismissed State = "dismissed"
	// StateOverridden: two operators accepted a rejected request.
	StateOverridden State = "overridden"
	// StateNotARequest: the mail carried no request form (out-of-office
	// replies, spam); kept for the record only.
	StateNotARequest State = "not_a_request"
	// StateParked: a mail set aside, still in the mailbox, that no
	// outcome could be recorded for yet (a revocation status no source
	// can tell, the server re-presenting a mail with other bytes); it is
	// tried again, and an operator sees it meanwhile. It describes the
	// mail, not a request.
	StateParked State = "parked"
)

var states = []State{
	StateAccepted, StateQueued, StateExecuted, StateRejected,
	StateDismissed, StateOverridden, StateNotARequest, StateParked,
}

// States returns every state, in the order a request usually goes through
// them.
func States() []State { return append([]State(nil), states...) }

// ParseState returns the state spelled s exactly.
func ParseState(s string) (State, error) {
	for _, st := range states {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown request state %q", s)
}
