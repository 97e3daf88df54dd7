package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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
	for _, uid := range uids {
		if s.copied[uid] {
			continue
		}
		if until, ok := s.left[uid]; ok && now.Before(until) {
			continue
		}
		if s.m.retries.waiting(retryKey{s.uidValidity, uid}, now) {
			s.m.stats.deferred.Add(1)
			continue
		}
		todo = append(todo, uid)
	}

	var (
		missing          []imap.UID
		succeeded, fails int
		streak           int
		lastErr          error
	)
	for batch := range slices.Chunk(todo, metaBatch) {
		metas, err := s.fetchMeta(batch)
		if err != nil {
			return err
		}
		for _, uid := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			meta, ok := metas[uid]
			if !ok {
				missing = append(missing, uid)
				continue
			}
			err := s.handle(ctx, meta)
			var herr *handlerError
			switch {
			case errors.Is(err, errNotReturned):
				missing = append(missing, uid)
				continue
			case errors.As(err, &herr):
				// Its own schedule keeps the message back; the ones
				// behind it go on unless the store looks down.
				fails++
				streak++
				lastErr = err
				if streak >= maxHandlerErrorStreak {
					return fmt.Errorf("the handler failed on %d messages in a row: %w", streak, err)
				}
				continue
			case err != nil:
				return err
			}
			succeeded++
			streak = 0
		}
	}
	if fails > 0 && succeeded == 0 {
		return fmt.Errorf("the handler failed on every message handed over (%d): %w", fails, lastErr)
	}
	if len(missing) > 0 {
		return s.checkMissing(missing)
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

// handle downloads one message if under the cap, calls the handler and
// carries out its answer.
func (s *session) handle(ctx context.Context, meta msgMeta) error {
	cfg := &s.m.cfg
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
		raw, err := s.fetchBody(meta.uid, nil, cfg.MaxMessageBytes)
		switch {
		case errors.Is(err, errOverCap):
			mail.OverCap = true
		case err != nil:
			return err
		default:
			mail.Raw = raw
			if int64(len(raw)) != meta.size {
				s.m.log.Warn("message size differs from RFC822.SIZE",
					"uid", meta.uid, "size", meta.size, "fetched", len(raw))
			}
		}
	}
	log := s.m.log.With("uidvalidity", s.uidValidity, "uid", meta.uid, "size", meta.size)
	s.m.stats.fetched.Add(1)
	if mail.OverCap {
		s.m.stats.overCap.Add(1)
		header, err := s.fetchBody(meta.uid, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader}, MaxHeaderFetchBytes)
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
		log.Warn("message over the size cap, handing it over with its header only", "cap", cfg.MaxMessageBytes)
	}

	disp, err := s.h.Handle(ctx, mail)
	// A long pass over a full mailbox is activity too, not a stuck session.
	s.m.health.active(time.Now(), false)
	key := retryKey{s.uidValidity, meta.uid}
	if err != nil {
		s.m.stats.handlerErrors.Add(1)
		delay, failures := s.m.retries.failed(key, time.Now())
		s.m.stats.failing.Store(uint64(s.m.retries.len()))
		log.Warn("handler failed, the message stays for a later retry",
			"err", err, "failures", failures, "retry_after", delay)
		return &handlerError{uid: meta.uid, err: err}
	}
	if s.m.retries.succeeded(key) {
		s.m.stats.failing.Store(uint64(s.m.retries.len()))
	}
	switch disp {
	case Processed, Rejected:
		folder, counter := cfg.ProcessedFolder, &s.m.stats.processed
		if disp == Rejected {
			folder, counter = cfg.RejectedFolder, &s.m.stats.rejected
		}
		if err := s.move(meta.uid, folder); err != nil {
			return fmt.Errorf("moving UID %d to %q after the handler committed it: %w", meta.uid, folder, err)
		}
		delete(s.left, meta.uid)
		counter.Add(1)
		log.Info("message handled", "disposition", disp, "folder", folder)
	case Leave:
		s.left[meta.uid] = time.Now().Add(cfg.LeaveRetry)
		s.m.stats.left.Add(1)
		log.Info("message left in the mailbox", "retry_after", cfg.LeaveRetry)
	default:
		// A programming error in the handler: keeping the message is the
		// only answer that loses nothing.
		s.left[meta.uid] = time.Now().Add(cfg.LeaveRetry)
		s.m.stats.left.Add(1)
		log.Error("handler returned an unknown disposition, leaving the message", "disposition", disp)
	}
	// Only now: a session whose moves fail must keep backing off, however
	// well the handler does.
	s.handled = true
	return nil
}

// errOverCap means the server sent a body longer than MaxMessageBytes
// although RFC822.SIZE said it was under.
var errOverCap = errors.New("message body over the size cap")

// fetchBody downloads one section of a message (nil: the whole message).
// It asks for at most limit+1 bytes, so a server whose RFC822.SIZE
// understates a message cannot make it download more than the cap; a
// longer section is errOverCap.
func (s *session) fetchBody(uid imap.UID, section *imap.FetchItemBodySection, limit int64) ([]byte, error) {
	if section == nil {
		section = &imap.FetchItemBodySection{}
	}
	section.Peek = true
	section.Partial = &imap.SectionPartial{Offset: 0, Size: limit + 1}
	cmd := s.c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{section},
	})
	// Close drains whatever was not read: go-imap's reader goroutine waits
	// until a literal is consumed.
	drain := true
	defer func() {
		if drain {
			cmd.Close()
		}
	}()

	var raw []byte
	got, over := false, false
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			body, ok := item.(imapclient.FetchItemDataBodySection)
			if !ok || body.Literal == nil || got {
				continue
			}
			got = true
			n := body.Literal.Size()
			if n > limit {
				over = true
				continue
			}
			buf := make([]byte, n)
			// ReadFull, not ReadAll: the literal reader reports a connection
			// cut short as a plain EOF, and a truncated message must never
			// reach the handler.
			if _, err := io.ReadFull(body.Literal, buf); err != nil {
				// After a failed literal read go-imap's reader goroutine
				// resumes reading the connection, so draining the literal
				// here would race with it. The connection is lost anyway:
				// close it, which ends the reader and the command.
				drain = false
				s.c.Close()
				return nil, fmt.Errorf("reading UID %d (%d bytes): %w", uid, n, err)
			}
			raw = buf
		}
	}
	if err := cmd.Close(); err != nil {
		var ierr *imap.Error
		if errors.As(err, &ierr) && ierr.Type == imap.StatusResponseTypeNo && !got {
			return nil, errNotReturned
		}
		return nil, fmt.Errorf("fetching UID %d: %w", uid, err)
	}
	switch {
	case !got:
		return nil, errNotReturned
	case over:
		return nil, errOverCap
	}
	return raw, nil
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
