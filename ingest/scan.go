package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// scan hands every message present to the handler, in UID order.
func (s *session) scan(ctx context.Context) error {
	data, err := s.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return fmt.Errorf("listing %q: %w", s.m.cfg.Mailbox, err)
	}
	uids := data.AllUIDs()
	slices.Sort(uids)
	// Forget left and failing messages that are gone, so their retry times
	// do not wake the session for nothing and the schedule stays bounded.
	for uid := range s.left {
		if _, found := slices.BinarySearch(uids, uid); !found {
			delete(s.left, uid)
		}
	}
	s.m.retries.prune(s.uidValidity, uids)
	s.m.stats.failing.Store(uint64(s.m.retries.len()))
	now := time.Now()
	var todo []imap.UID
	s.heldUntil = time.Time{}
	hold := func(until time.Time) {
		if s.heldUntil.IsZero() || until.Before(s.heldUntil) {
			s.heldUntil = until
		}
	}
	for _, uid := range uids {
		if s.copied[uid] {
			continue
		}
		if until, ok := s.left[uid]; ok && now.Before(until) {
			hold(until)
			continue
		}
		if due, ok := s.m.retries.due(retryKey{s.uidValidity, uid}); ok && now.Before(due) {
			hold(due)
			s.m.stats.deferred.Add(1)
			continue
		}
		todo = append(todo, uid)
	}

	p := &pass{}
	f := &feeder{s: s, p: p, todo: todo, move: s.moveHandled}
	if err := f.run(ctx); err != nil {
		return err
	}
	if p.fails > 0 && p.succeeded == 0 {
		return fmt.Errorf("the handler failed on every message handed over (%d): %w", p.fails, p.lastErr)
	}
	if len(p.missing) > 0 {
		return s.checkMissing(p.missing)
	}
	return nil
}

// pass is one scan's tally of what became of the messages handed over.
type pass struct {
	succeeded, fails int
	// streak counts the handler errors in a row, in UID order.
	streak  int
	lastErr error
	// missing holds the messages listed but not returned by a FETCH.
	missing []imap.UID
}

// handled is a message the handler answered Processed or Rejected for,
// waiting for its move.
type handled struct {
	uid  imap.UID
	disp Disposition
	log  *slog.Logger
}

// fetchGroups splits metas, in UID order, into runs whose bodies add up to
// at most maxBytes by RFC822.SIZE, each run downloaded with one FETCH; a
// message bigger than maxBytes is a run of its own. Messages over capBytes,
// whose bodies are not downloaded, weigh nothing.
func fetchGroups(metas []msgMeta, maxBytes, capBytes int64) [][]msgMeta {
	var groups [][]msgMeta
	var sum int64
	start := 0
	for i, meta := range metas {
		size := meta.size
		if size > capBytes {
			size = 0
		}
		if i > start && sum+size > maxBytes {
			groups = append(groups, metas[start:i])
			start, sum = i, 0
		}
		sum += size
	}
	if start < len(metas) {
		groups = append(groups, metas[start:])
	}
	return groups
}

// download builds the Mail of each message of group, in UID order: the
// bodies of those under the cap with one FETCH, the header alone of those
// over it. A message the FETCH did not return goes to p.missing.
func (s *session) download(group []msgMeta, p *pass) ([]*Mail, error) {
	cfg := &s.m.cfg
	var under []imap.UID
	for _, meta := range group {
		if meta.size <= cfg.MaxMessageBytes {
			under = append(under, meta.uid)
		}
	}
	var bodies map[imap.UID]section
	if len(under) > 0 {
		var err error
		bodies, err = s.fetchSections(under, nil, cfg.MaxMessageBytes, fetchBatchBytes)
		if err != nil {
			return nil, err
		}
	}
	mails := make([]*Mail, 0, len(group))
	for _, meta := range group {
		mail := &Mail{
			Mailbox:      cfg.Mailbox,
			UIDValidity:  s.uidValidity,
			UID:          uint32(meta.uid),
			Size:         meta.size,
			InternalDate: meta.internalDate,
		}
		if meta.size > cfg.MaxMessageBytes {
			mail.OverCap = true
		} else {
			body, ok := bodies[meta.uid]
			switch {
			case !ok:
				p.missing = append(p.missing, meta.uid)
				continue
			case body.over:
				mail.OverCap = true
			default:
				mail.Raw = body.raw
				if int64(len(body.raw)) != meta.size {
					s.m.log.Warn("message size differs from RFC822.SIZE",
						"uid", meta.uid, "size", meta.size, "fetched", len(body.raw))
				}
			}
		}
		if mail.OverCap {
			if err := s.fetchOverCapHeader(mail); err != nil {
				return nil, err
			}
		}
		mails = append(mails, mail)
	}
	return mails, nil
}

// fetchOverCapHeader fetches the header of a message over the cap, for the
// handler to record it and answer its sender.
func (s *session) fetchOverCapHeader(mail *Mail) error {
	uid := imap.UID(mail.UID)
	log := s.m.log.With("uidvalidity", s.uidValidity, "uid", uid, "size", mail.Size)
	header, err := s.fetchBody(uid, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader}, MaxHeaderFetchBytes)
	switch {
	case errors.Is(err, errOverCap):
		// Not a header a mail client writes: the message is recorded
		// without one and nobody is answered.
		log.Warn("message over the size cap has a header over the bound", "bound", MaxHeaderFetchBytes)
	case errors.Is(err, errNotReturned):
	case err != nil:
		return err
	default:
		mail.Header = header
	}
	log.Warn("message over the size cap, handing it over with its header only", "cap", s.m.cfg.MaxMessageBytes)
	return nil
}

// feeder hands a pass's messages to the handler and carries out the
// answers, as a pipeline run by the session's goroutine, which alone sends
// IMAP commands: while up to Parallel handler calls run on goroutines of
// their own, it fetches the sizes of the next metaBatch messages with one
// FETCH and their bodies with one FETCH per fetchBatchBytes, and moves the
// messages answered for with one MOVE per destination folder once
// metaBatch of them are waiting, or once nothing else is left to do. Calls
// start in UID order, and their answers are settled in UID order (see
// settle); only the calls run concurrently.
type feeder struct {
	s *session
	p *pass
	// todo holds the listed messages whose sizes are not fetched yet,
	// groups those whose bodies are not, ready those downloaded whose call
	// has not started: each in UID order.
	todo   []imap.UID
	groups [][]msgMeta
	ready  []*Mail
	// results holds the answers of the calls started, in the order
	// started: nil until the answer comes, cleared once settled. next is
	// the first call not settled.
	results []*outcome
	next    int
	running int
	// failed counts the failures among the answers come in but not yet
	// settled.
	failed  int
	answers chan outcome
	// done holds the messages settled as Processed or Rejected, waiting
	// for their move.
	done []handled
	// stop says why no more calls start: the handler's streak of errors
	// or the end of ctx.
	stop error
	// move carries out done (session.moveHandled; tests replace it).
	move func([]handled) error
}

// outcome is one Handle call's answer.
type outcome struct {
	i    int // the call's index in feeder.results
	uid  imap.UID
	size int64
	disp Disposition
	err  error
}

// run feeds every message of f.todo to the handler. It stops starting
// calls once the handler failed on maxHandlerErrorStreak messages in a row
// (moving those answered for, then returning the streak's error), when ctx
// ends, or on an IMAP error (returned; the messages not yet moved come
// again in the next session). It returns only once every call it started
// has returned.
func (f *feeder) run(ctx context.Context) error {
	parallel := f.s.m.cfg.Parallel
	f.answers = make(chan outcome, parallel)
	var fatal error
	for {
		if fatal == nil && f.stop == nil && ctx.Err() != nil {
			f.stop = ctx.Err()
		}
		open := fatal == nil && f.stop == nil
		for open && len(f.ready) > 0 && f.running < parallel && !f.throttled(parallel) {
			f.start(ctx)
		}
		// Fetched while the calls just started run.
		fetchable := len(f.groups) > 0 || len(f.todo) > 0
		if open && len(f.ready) < parallel && fetchable {
			fatal = f.refill()
			continue
		}
		finished := f.running == 0 && (!open || (len(f.ready) == 0 && !fetchable))
		// After ctx ends the connection is closed: nothing can be moved.
		if fatal == nil && ctx.Err() == nil && len(f.done) > 0 && (len(f.done) >= metaBatch || finished) {
			fatal = f.move(f.done)
			f.done = nil
			continue
		}
		if finished {
			break
		}
		// Here a call is running: had none been, one would have started
		// (throttled needs one running), or the loop would have fetched or
		// finished.
		f.collect()
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case fatal != nil:
		return fatal
	}
	return f.stop
}

// refill fetches the sizes and dates of the next metaBatch messages, or
// the bodies of the next group of them.
func (f *feeder) refill() error {
	s := f.s
	if len(f.groups) == 0 {
		chunk := f.todo[:min(metaBatch, len(f.todo))]
		f.todo = f.todo[len(chunk):]
		metas, err := s.fetchMeta(chunk)
		if err != nil {
			return err
		}
		present := make([]msgMeta, 0, len(chunk))
		for _, uid := range chunk {
			if meta, ok := metas[uid]; ok {
				present = append(present, meta)
			} else {
				f.p.missing = append(f.p.missing, uid)
			}
		}
		f.groups = fetchGroups(present, fetchBatchBytes, s.m.cfg.MaxMessageBytes)
		return nil
	}
	group := f.groups[0]
	f.groups = f.groups[1:]
	mails, err := s.download(group, f.p)
	if err != nil {
		return err
	}
	f.ready = append(f.ready, mails...)
	return nil
}

// throttled reports whether the next call must wait: while failures are
// about, calls start no further than parallel ahead of the first unsettled
// one, so that a streak in UID order stops the pass after at most
// parallel-1 more calls however the answers come in. Otherwise a slow
// call holds up none but itself.
func (f *feeder) throttled(parallel int) bool {
	return (f.p.streak > 0 || f.failed > 0) && len(f.results)-f.next >= parallel
}

// start calls the handler for the first ready mail on a goroutine of its
// own.
func (f *feeder) start(ctx context.Context) {
	mail := f.ready[0]
	f.ready[0] = nil // the body is the call's now
	f.ready = f.ready[1:]
	i := len(f.results)
	f.results = append(f.results, nil)
	f.s.m.stats.fetched.Add(1)
	if mail.OverCap {
		f.s.m.stats.overCap.Add(1)
	}
	f.running++
	h := f.s.h
	go func() {
		disp, err := h.Handle(ctx, mail)
		f.answers <- outcome{i: i, uid: imap.UID(mail.UID), size: mail.Size, disp: disp, err: err}
	}()
}

// collect waits for one call's answer and settles, in UID order, every
// answer that no call before it is still running for.
func (f *feeder) collect() {
	o := <-f.answers
	f.running--
	f.results[o.i] = &o
	if o.err != nil {
		f.failed++
	}
	for f.next < len(f.results) && f.results[f.next] != nil {
		r := f.results[f.next]
		if r.err != nil {
			f.failed--
		}
		if err := f.s.settle(*r, f.p, &f.done); err != nil && f.stop == nil {
			f.stop = err
		}
		f.results[f.next] = nil
		f.next++
	}
}

// settle records the handler's answer for one message: a failure in its
// retry schedule, Leave in s.left, Processed and Rejected in done, to be
// moved. It returns an error when the handler has now failed on
// maxHandlerErrorStreak messages in a row.
func (s *session) settle(o outcome, p *pass, done *[]handled) error {
	cfg := &s.m.cfg
	uid := o.uid
	// A long pass over a full mailbox is activity too, not a stuck session.
	s.m.health.active(time.Now(), false)
	log := s.m.log.With("uidvalidity", s.uidValidity, "uid", uid, "size", o.size)
	key := retryKey{s.uidValidity, uid}
	if o.err != nil {
		s.m.stats.handlerErrors.Add(1)
		delay, failures := s.m.retries.failed(key, time.Now())
		s.m.stats.failing.Store(uint64(s.m.retries.len()))
		log.Warn("handler failed, the message stays for a later retry",
			"err", o.err, "failures", failures, "retry_after", delay)
		// Its own schedule keeps the message back; the ones behind it go
		// on unless the store looks down.
		herr := &handlerError{uid: uid, err: o.err}
		p.fails++
		p.streak++
		p.lastErr = herr
		if p.streak >= maxHandlerErrorStreak {
			return fmt.Errorf("the handler failed on %d messages in a row: %w", p.streak, herr)
		}
		return nil
	}
	p.succeeded++
	p.streak = 0
	if s.m.retries.succeeded(key) {
		s.m.stats.failing.Store(uint64(s.m.retries.len()))
	}
	switch o.disp {
	case Processed, Rejected:
		*done = append(*done, handled{uid: uid, disp: o.disp, log: log})
		return nil
	case Leave:
		s.left[uid] = time.Now().Add(cfg.LeaveRetry)
		s.m.stats.left.Add(1)
		log.Info("message left in the mailbox", "retry_after", cfg.LeaveRetry)
	default:
		// A programming error in the handler: keeping the message is the
		// only answer that loses nothing.
		s.left[uid] = time.Now().Add(cfg.LeaveRetry)
		s.m.stats.left.Add(1)
		log.Error("handler returned an unknown disposition, leaving the message", "disposition", o.disp)
	}
	s.handled = true
	return nil
}

// moveHandled moves the messages of done out of the mailbox, with one
// command (or the fallback's three) per destination folder.
func (s *session) moveHandled(done []handled) error {
	cfg := &s.m.cfg
	for _, dest := range []struct {
		disp    Disposition
		folder  string
		counter *atomic.Uint64
	}{
		{Processed, cfg.ProcessedFolder, &s.m.stats.processed},
		{Rejected, cfg.RejectedFolder, &s.m.stats.rejected},
	} {
		var uids []imap.UID
		for _, h := range done {
			if h.disp == dest.disp {
				uids = append(uids, h.uid)
			}
		}
		if len(uids) == 0 {
			continue
		}
		if err := s.move(uids, dest.folder); err != nil {
			return fmt.Errorf("moving %d messages (UIDs %v) to %q after the handler committed them: %w", len(uids), uids, dest.folder, err)
		}
		for _, h := range done {
			if h.disp == dest.disp {
				delete(s.left, h.uid)
				dest.counter.Add(1)
				h.log.Info("message handled", "disposition", h.disp, "folder", dest.folder)
			}
		}
		// Only now: a session whose moves fail must keep backing off,
		// however well the handler does.
		s.handled = true
	}
	return nil
}

type msgMeta struct {
	uid          imap.UID
	size         int64
	internalDate time.Time
}

// fetchMeta fetches the size and date of a batch of messages. A message
// missing from the result is the caller's to check.
func (s *session) fetchMeta(uids []imap.UID) (map[imap.UID]msgMeta, error) {
	bufs, err := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID:          true,
		RFC822Size:   true,
		InternalDate: true,
	}).Collect()
	var ierr *imap.Error
	if err != nil && !errors.As(err, &ierr) {
		return nil, fmt.Errorf("fetching sizes of %d messages: %w", len(uids), err)
	}
	// A NO (Dovecot's EXPUNGEISSUED, say) still comes with the messages
	// that exist; the others are checked by the caller.
	metas := make(map[imap.UID]msgMeta, len(bufs))
	for _, b := range bufs {
		if b.UID == 0 {
			continue
		}
		metas[b.UID] = msgMeta{uid: b.UID, size: b.RFC822Size, internalDate: b.InternalDate}
	}
	return metas, nil
}

// errOverCap means the server sent a body longer than MaxMessageBytes
// although RFC822.SIZE said it was under.
var errOverCap = errors.New("message body over the size cap")

// fetchBody downloads one section of one message (nil: the whole message),
// at most limit bytes of it: a longer section is errOverCap, a message the
// server did not return errNotReturned.
func (s *session) fetchBody(uid imap.UID, sec *imap.FetchItemBodySection, limit int64) ([]byte, error) {
	got, err := s.fetchSections([]imap.UID{uid}, sec, limit, limit)
	if err != nil {
		return nil, err
	}
	body, ok := got[uid]
	switch {
	case !ok:
		return nil, errNotReturned
	case body.over:
		return nil, errOverCap
	}
	return body.raw, nil
}

// section is one message's section as a FETCH returned it.
type section struct {
	raw  []byte
	over bool // longer than the limit asked for: raw is nil
}

// fetchSections downloads one section (nil: the whole message) of each of
// uids. It asks for at most limit+1 bytes of each, so a server whose
// RFC822.SIZE understates a message cannot make it download more than the
// cap: a longer section comes back with over set. The sections kept from
// one FETCH add up to at most budget bytes (or one section): a server that
// sends more than the sizes it announced gets the messages beyond asked
// for again, in a FETCH of their own. A message the server did not return
// is absent from the result.
func (s *session) fetchSections(uids []imap.UID, sec *imap.FetchItemBodySection, limit, budget int64) (map[imap.UID]section, error) {
	got := make(map[imap.UID]section, len(uids))
	for len(uids) > 0 {
		over, err := s.fetchSectionsOnce(uids, sec, limit, budget, got)
		if err != nil {
			return nil, err
		}
		uids = over
	}
	return got, nil
}

// fetchSectionsOnce is one UID FETCH of fetchSections. It adds what it kept
// to got and returns the messages sent whole but not kept for the budget.
func (s *session) fetchSectionsOnce(uids []imap.UID, sec *imap.FetchItemBodySection, limit, budget int64, got map[imap.UID]section) ([]imap.UID, error) {
	item := imap.FetchItemBodySection{}
	if sec != nil {
		item = *sec
	}
	item.Peek = true
	item.Partial = &imap.SectionPartial{Offset: 0, Size: limit + 1}
	cmd := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{&item},
	})
	// Close drains whatever was not read: go-imap's reader goroutine waits
	// until a literal is consumed.
	drain := true
	defer func() {
		if drain {
			cmd.Close()
		}
	}()

	asked := make(map[imap.UID]bool, len(uids))
	for _, uid := range uids {
		asked[uid] = true
	}
	var kept int64
	var again []imap.UID
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var (
			uid       imap.UID
			body      section
			hasBody   bool
			overSpent bool
		)
		for it := msg.Next(); it != nil; it = msg.Next() {
			switch it := it.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil || hasBody {
					continue
				}
				hasBody = true
				n := it.Literal.Size()
				if n > limit {
					body.over = true
					continue
				}
				if kept > 0 && kept+n > budget {
					// Left unread: go-imap discards it.
					overSpent = true
					continue
				}
				buf := make([]byte, n)
				// ReadFull, not ReadAll: the literal reader reports a
				// connection cut short as a plain EOF, and a truncated
				// message must never reach the handler.
				if _, err := io.ReadFull(it.Literal, buf); err != nil {
					// After a failed literal read go-imap's reader
					// goroutine resumes reading the connection, so draining
					// the literal here would race with it. The connection
					// is lost anyway: close it, which ends the reader and
					// the command.
					drain = false
					s.c.Close()
					return nil, fmt.Errorf("reading message %d of a FETCH (%d bytes): %w", msg.SeqNum, n, err)
				}
				kept += n
				body.raw = buf
			}
		}
		if uid == 0 || !hasBody || !asked[uid] {
			continue
		}
		if _, dup := got[uid]; dup {
			continue
		}
		if overSpent {
			again = append(again, uid)
			continue
		}
		got[uid] = body
	}
	if err := cmd.Close(); err != nil {
		// A NO (Dovecot's EXPUNGEISSUED, say) still comes with the
		// messages that exist; the others are the caller's to check.
		var ierr *imap.Error
		if !errors.As(err, &ierr) || ierr.Type != imap.StatusResponseTypeNo {
			return nil, fmt.Errorf("fetching %d messages: %w", len(uids), err)
		}
	}
	return again, nil
}

// checkMissing decides what became of messages that UID SEARCH listed and
// FETCH did not return: expunged by another client (counted, logged) or
// still there (an error, so the session restarts instead of skipping them).
func (s *session) checkMissing(uids []imap.UID) error {
	// NOOP first: a session may not see another's changes before it.
	if err := s.c.Noop().Wait(); err != nil {
		return fmt.Errorf("NOOP: %w", err)
	}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(uids...)}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("listing messages FETCH did not return: %w", err)
	}
	still := data.AllUIDs()
	if gone := len(uids) - len(still); gone > 0 {
		s.m.stats.vanished.Add(uint64(gone))
		s.m.log.Warn("messages were expunged by another client before they could be fetched", "count", gone)
	}
	if len(still) > 0 {
		return fmt.Errorf("%w: UIDs %v", errNotReturned, still)
	}
	return nil
}
