package notify

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/queue"
)

// Defaults of an Alerter.
const (
	// DefaultAlertAfter: a refused request waiting for review, or an
	// accepted one not revoked, this long after receipt is half-way
	// through the 24 hours the CA commits to: time enough to act.
	DefaultAlertAfter = 12 * time.Hour
	// DefaultAlertInterval: at most one digest an hour.
	DefaultAlertInterval = time.Hour
	// DefaultAlertCheck is how often the store is looked at.
	DefaultAlertCheck = 5 * time.Minute
)

// AlertStore is what an Alerter needs of the store; *queue.Store has it.
type AlertStore interface {
	DueAlerts(ctx context.Context, now time.Time, after time.Duration) ([]queue.DueAlert, error)
	LastDigest(ctx context.Context) (time.Time, error)
	RecordDigest(ctx context.Context, keys []string, msgs []queue.OutboxMessage) error
}

// Alerter sends the operators a digest of what needs them: refused
// requests waiting for review beyond After, accepted requests not
// executed After their receipt, failed revocation jobs, notifications
// that failed for good. A digest is queued only when something became
// due since the last one (each item is new once), at most once per
// Interval; it lists everything still due, the new items marked.
type Alerter struct {
	Store AlertStore
	// Operators are the addresses of the digest. Required.
	Operators []string
	// After, Interval and Check: zero means DefaultAlertAfter,
	// DefaultAlertInterval and DefaultAlertCheck.
	After, Interval, Check time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

func (a *Alerter) defaults() Alerter {
	r := *a
	if r.After <= 0 {
		r.After = DefaultAlertAfter
	}
	if r.Interval <= 0 {
		r.Interval = DefaultAlertInterval
	}
	if r.Check <= 0 {
		r.Check = DefaultAlertCheck
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r
}

// CheckOnce queues a digest when one is due, and reports whether it did.
func (a *Alerter) CheckOnce(ctx context.Context) (bool, error) {
	r := a.defaults()
	if r.Store == nil || len(r.Operators) == 0 {
		return false, errors.New("notify: an alerter needs a store and operators")
	}
	now := r.Now()
	last, err := r.Store.LastDigest(ctx)
	if err != nil {
		return false, err
	}
	if !last.IsZero() && now.Sub(last) < r.Interval {
		return false, nil
	}
	due, err := r.Store.DueAlerts(ctx, now, r.After)
	if err != nil {
		return false, err
	}
	var d Digest
	var fresh []string
	for _, x := range due {
		it := AlertItem{Reference: x.RequestID, ID: x.ID, Serial: x.Serial, Code: authorize.Code(x.Code), Since: x.Since,
			Detail: x.Detail, New: !x.Alerted}
		if !x.Alerted {
			fresh = append(fresh, x.Key)
		}
		switch x.Rule {
		case queue.AlertReview:
			d.Review = append(d.Review, it)
		case queue.AlertNotExecuted:
			d.NotExecuted = append(d.NotExecuted, it)
		case queue.AlertJobFailed:
			d.FailedJobs = append(d.FailedJobs, it)
		case queue.AlertMailFailed:
			d.FailedMails = append(d.FailedMails, it)
		}
	}
	if len(fresh) == 0 {
		return false, nil
	}
	msgs := make([]queue.OutboxMessage, len(r.Operators))
	for i, op := range r.Operators {
		msgs[i] = OperatorAlert(op, d)
	}
	if err := r.Store.RecordDigest(ctx, fresh, msgs); err != nil {
		return false, err
	}
	r.Logger.InfoContext(ctx, "operators' digest queued", "items", d.Len(), "new", len(fresh), "operators", len(r.Operators))
	return true, nil
}

// Run checks every Check until ctx is done; a store error is logged and
// tried again at the next check.
func (a *Alerter) Run(ctx context.Context) error {
	r := a.defaults()
	t := time.NewTicker(r.Check)
	defer t.Stop()
	for {
		if _, err := a.CheckOnce(ctx); err != nil && ctx.Err() == nil {
			r.Logger.ErrorContext(ctx, "the operators' alerts could not be checked; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
