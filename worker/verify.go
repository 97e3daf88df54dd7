package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
)

// DefaultVerifyLease is how long a verifier holds a mail before another
// worker may take it over, unless it renews the lease: a verifier that
// dies holds up its mail that long.
const DefaultVerifyLease = 15 * time.Second

// verifyLease is Config.VerifyLease or its default.
func (w *Worker) verifyLease() time.Duration {
	if w.cfg.VerifyLease > 0 {
		return w.cfg.VerifyLease
	}
	return DefaultVerifyLease
}

// verifyBudget bounds the deciding of one mail: every PDF of the mail in
// its own time budget, and a minute to record the outcome.
func (w *Worker) verifyBudget() time.Duration {
	budget := w.cfg.Verify.TimeBudget
	if budget <= 0 {
		budget = pdfverify.DefaultTimeBudget
	}
	return maxPDFsPerMail*budget + time.Minute
}

// DefaultVerifierPoll is how often an idle verifier looks for mails that
// another worker archived; mails this worker archives wake it at once.
const DefaultVerifierPoll = 200 * time.Millisecond

// outcomePoll is how often the mails waiting for their outcome are looked
// up in the store (all in one query), for the outcomes another worker
// recorded; the ones this worker records end the wait at once.
const outcomePoll = 50 * time.Millisecond

// verifiers is the worker's side of the queue of archived mails: the
// running pool, its wake-up call, and the mails waiting for an outcome,
// with the watcher that looks them up while there are any.
type verifiers struct {
	running  atomic.Int32
	wake     chan struct{}
	mu       sync.Mutex
	waiting  map[int64]chan struct{}
	watching bool
	watch    func()
}

func (v *verifiers) init(watch func()) {
	v.wake = make(chan struct{}, 1)
	v.waiting = map[int64]chan struct{}{}
	v.watch = watch
}

// waitFor returns a channel closed when mail id may have an outcome: a
// verifier of this worker is done with it, or the watcher saw it settled.
func (v *verifiers) waitFor(id int64) <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	ch, ok := v.waiting[id]
	if !ok {
		ch = make(chan struct{})
		v.waiting[id] = ch
	}
	if !v.watching {
		v.watching = true
		go v.watch()
	}
	return ch
}

// waitingIDs returns the mails waiting for an outcome; none ends the
// watcher (ok false), which the next waitFor starts again.
func (v *verifiers) waitingIDs() (ids []int64, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.waiting) == 0 {
		v.watching = false
		return nil, false
	}
	for id := range v.waiting {
		ids = append(ids, id)
	}
	return ids, true
}

func (v *verifiers) forget(id int64) {
	v.mu.Lock()
	delete(v.waiting, id)
	v.mu.Unlock()
}

func (v *verifiers) done(id int64) {
	v.mu.Lock()
	if ch, ok := v.waiting[id]; ok {
		close(ch)
		delete(v.waiting, id)
	}
	v.mu.Unlock()
}

// nudge wakes an idle verifier, if one is waiting.
func (v *verifiers) nudge() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// RunVerifiers runs n verifiers until ctx ends. Each takes the next
// archived mail due for verification, whichever worker sharing the store
// archived it, decides it and records its outcome; idle, it looks for
// work every poll, or at once when this worker archives a mail. A mail
// being verified when ctx ends is finished first.
func (w *Worker) RunVerifiers(ctx context.Context, n int, poll time.Duration) {
	if n < 1 {
		n = 1
	}
	if poll <= 0 {
		poll = DefaultVerifierPoll
	}
	w.running.Add(int32(n))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			defer w.running.Add(-1)
			w.verifyLoop(ctx, poll)
		})
	}
	wg.Wait()
}

func (w *Worker) verifyLoop(ctx context.Context, poll time.Duration) {
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for ctx.Err() == nil {
		worked, err := w.VerifyNext(ctx, 0)
		if err != nil && !worked && ctx.Err() == nil {
			w.log.WarnContext(ctx, "verifier: the store failed; trying again", "err", err, "retry_after", poll)
		}
		if worked {
			// Another mail may be due: a nudge woke only this verifier.
			w.nudge()
			continue
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-timer.C:
		}
	}
}

// VerifyNext takes the next archived mail due for verification (mailID
// only, when not 0), decides it and records its outcome, or parks it, or
// reports the failed attempt (and returns its error). worked is false
// when no mail was due. Once taken, a mail is finished even when ctx ends
// meanwhile: a verification cut short would only be taken up again by
// another worker after its lease.
func (w *Worker) VerifyNext(ctx context.Context, mailID int64) (worked bool, err error) {
	lease := w.verifyLease()
	a, ok, err := w.cfg.Store.ClaimVerification(ctx, lease, mailID)
	if err != nil || !ok {
		return false, err
	}
	defer w.done(a.ID)
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.verifyBudget())
	defer cancel()
	renewing := w.renewLease(vctx, a, lease)
	defer renewing()
	m := &ingest.Mail{
		Mailbox: a.Key.Mailbox, UIDValidity: a.Key.UIDValidity, UID: a.Key.UID,
		Size: a.Size, InternalDate: a.ReceivedAt, Raw: a.Raw,
	}
	if _, err := w.decideAndRecord(vctx, m, readHeader(a.Raw), a.ID, a.ReceivedAt); err != nil {
		w.log.WarnContext(ctx, "verifying a mail failed; it is tried again", "mail", a.ID, "attempt", a.Attempt, "err", err)
		kind := queue.Retry
		if errors.Is(err, queue.ErrInvalidOutcome) {
			kind = queue.Cancel
		}
		if ferr := w.cfg.Store.FailVerification(vctx, a.ID, a.Attempt, queue.Failure{Kind: kind, Message: err.Error()}); ferr != nil {
			return true, errors.Join(err, ferr)
		}
		return true, err
	}
	return true, nil
}

// renewLease renews the lease on a every third of it while the mail is
// being decided, so that a slow verification (a revocation service taking
// its time) is not taken over while a dead verifier's mail is soon. The
// returned function stops it.
func (w *Worker) renewLease(ctx context.Context, a queue.ArchivedMail, lease time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := w.cfg.Store.RenewVerification(ctx, a.ID, a.Attempt, lease); err != nil && ctx.Err() == nil {
					w.log.WarnContext(ctx, "verifier: cannot renew the lease of a mail", "mail", a.ID, "err", err)
				}
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// watchOutcomes wakes the mails whose outcome another worker recorded,
// looking all of them up every outcomePoll while any waits.
func (w *Worker) watchOutcomes() {
	tick := time.NewTicker(outcomePoll)
	defer tick.Stop()
	for range tick.C {
		ids, ok := w.waitingIDs()
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*outcomePoll)
		ps, err := w.cfg.Store.Progresses(ctx, ids)
		cancel()
		if err != nil {
			// Each waiter's own deadline bounds the wait.
			continue
		}
		for id, p := range ps {
			if p.Settled() {
				w.done(id)
			}
		}
	}
}

// awaitOutcome waits until the archived mail id is decided, by a verifier
// of this worker or of another sharing the store, and returns where the
// mailbox moves it: Leave while it is parked. Without verifiers running
// in this worker, it verifies the mail itself.
func (w *Worker) awaitOutcome(ctx context.Context, key queue.MailKey, id int64) (ingest.Disposition, error) {
	if w.running.Load() == 0 {
		if _, err := w.VerifyNext(ctx, id); err != nil {
			return ingest.Leave, fmt.Errorf("verifying mail %d: %w", id, err)
		}
	}
	done := w.waitFor(id)
	defer w.forget(id)
	w.nudge()
	deadline := time.NewTimer(w.verifyBudget() + w.verifyLease())
	defer deadline.Stop()
	for {
		p, err := w.cfg.Store.Progress(ctx, id)
		if err != nil {
			return ingest.Leave, err
		}
		switch {
		case p.Handled():
			return disposition(p.Disposition), nil
		case p.Parked():
			return ingest.Leave, nil
		case p.Verification == queue.VerificationFailed:
			return w.park(ctx, key, queue.ParkVerificationFailed,
				"the verification failed on every attempt (last: "+p.LastError+"); tried again when the mailbox presents the mail again", w.cfg.Now())
		case p.Verification == queue.VerificationPending && p.LastError != "":
			// An attempt failed; the verifiers try again after a
			// backoff, and the mailbox's own schedule hands the mail
			// over again.
			return ingest.Leave, fmt.Errorf("verifying mail %d: %s", id, p.LastError)
		}
		select {
		case <-done:
			done = w.waitFor(id)
		case <-deadline.C:
			return ingest.Leave, fmt.Errorf("mail %d: no verifier decided it in %s", id, w.verifyBudget()+w.verifyLease())
		case <-ctx.Done():
			return ingest.Leave, ctx.Err()
		}
	}
}
