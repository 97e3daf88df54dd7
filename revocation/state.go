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
)

var states = []State{
	StateAccepted, StateQueued, StateExecuted, StateRejected,
	StateDismissed, StateOverridden, StateNotARequest,
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
