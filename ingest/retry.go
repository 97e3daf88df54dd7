package ingest

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// retryKey names a message across sessions: a UID means nothing without its
// UIDVALIDITY.
type retryKey struct {
	uidValidity uint32
	uid         imap.UID
}

// retryState is one failing message's schedule.
type retryState struct {
	bo  backoff
	due time.Time
}

// retrySchedule holds when each message the handler failed on may be handed
// over again: exponential per message, with full jitter, like reconnects.
// It is not safe for concurrent use.
type retrySchedule struct {
	min, max time.Duration
	// rand returns a uniform value in [0, n); tests replace it.
	rand    func(n int64) int64
	entries map[retryKey]*retryState
}

func newRetrySchedule(min, max time.Duration) *retrySchedule {
	return &retrySchedule{min: min, max: max, rand: rand.Int64N, entries: make(map[retryKey]*retryState)}
}

// failed records a handler error for k at now, and returns the delay before
// k is due again and how many times in a row it has failed.
func (r *retrySchedule) failed(k retryKey, now time.Time) (time.Duration, int) {
	e, ok := r.entries[k]
	if !ok {
		e = &retryState{bo: backoff{min: r.min, max: r.max, rand: r.rand}}
		r.entries[k] = e
	}
	d := e.bo.next()
	e.due = now.Add(d)
	return d, e.bo.attempt
}

// succeeded forgets k's failures and reports whether it had any.
func (r *retrySchedule) succeeded(k retryKey) bool {
	_, ok := r.entries[k]
	delete(r.entries, k)
	return ok
}

// waiting reports whether k failed and is not due yet at now.
func (r *retrySchedule) waiting(k retryKey, now time.Time) bool {
	e, ok := r.entries[k]
	return ok && now.Before(e.due)
}

// due returns when the message k is due again, if it has a schedule.
func (r *retrySchedule) due(k retryKey) (time.Time, bool) {
	e, ok := r.entries[k]
	if !ok {
		return time.Time{}, false
	}
	return e.due, true
}

// prune forgets every message but those of uids (sorted) under
// uidValidity: messages that left the mailbox, and every message of an
// older UIDVALIDITY, whose UIDs now name other messages.
func (r *retrySchedule) prune(uidValidity uint32, uids []imap.UID) {
	for k := range r.entries {
		if k.uidValidity != uidValidity {
			delete(r.entries, k)
			continue
		}
		if _, found := slices.BinarySearch(uids, k.uid); !found {
			delete(r.entries, k)
		}
	}
}

// next returns the earliest due time after now among uidValidity's
// messages.
func (r *retrySchedule) next(uidValidity uint32, now time.Time) (time.Time, bool) {
	var next time.Time
	for k, e := range r.entries {
		if k.uidValidity == uidValidity && e.due.After(now) && (next.IsZero() || e.due.Before(next)) {
			next = e.due
		}
	}
	return next, !next.IsZero()
}

// len returns how many messages have a schedule.
func (r *retrySchedule) len() int { return len(r.entries) }
