package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/revokd/revokd/internal/imaptest"
)

func TestFetchGroups(t *testing.T) {
	const maxBytes = 100
	metas := func(sizes ...int64) []msgMeta {
		var out []msgMeta
		for i, size := range sizes {
			out = append(out, msgMeta{uid: imap.UID(i + 1), size: size})
		}
		return out
	}
	tests := []struct {
		name     string
		sizes    []int64
		capBytes int64
		want     [][]imap.UID
	}{
		{name: "ok/empty", sizes: nil, capBytes: 60, want: nil},
		{name: "ok/one", sizes: []int64{10}, capBytes: 60, want: [][]imap.UID{{1}}},
		{name: "ok/all-fit", sizes: []int64{30, 30, 40}, capBytes: 60, want: [][]imap.UID{{1, 2, 3}}},
		{name: "ok/split-at-the-bound", sizes: []int64{50, 50, 1, 50}, capBytes: 60, want: [][]imap.UID{{1, 2}, {3, 4}}},
		{name: "ok/over-the-cap-weighs-nothing", sizes: []int64{50, 1000, 50}, capBytes: 60, want: [][]imap.UID{{1, 2, 3}}},
		{name: "ok/bigger-than-the-bound-alone", sizes: []int64{10, 150, 10}, capBytes: 1000, want: [][]imap.UID{{1}, {2}, {3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][]imap.UID
			for _, g := range fetchGroups(metas(tt.sizes...), maxBytes, tt.capBytes) {
				var uids []imap.UID
				for _, m := range g {
					uids = append(uids, m.uid)
				}
				got = append(got, uids)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("fetchGroups(%v) = %v, want %v", tt.sizes, got, tt.want)
			}
		})
	}
}

// feedReady runs a feeder over n mails already downloaded (UIDs 1 to n),
// recording its moves instead of sending them.
func feedReady(ctx context.Context, s *session, n int) (*pass, [][]handled, error) {
	p := &pass{}
	var moves [][]handled
	f := &feeder{s: s, p: p, move: func(done []handled) error {
		moves = append(moves, slices.Clone(done))
		return nil
	}}
	for uid := uint32(1); uid <= uint32(n); uid++ {
		f.ready = append(f.ready, &Mail{UID: uid})
	}
	err := f.run(ctx)
	return p, moves, err
}

// TestFeederCalls drives the handler calls of a pass without a server:
// how many run at once, the order their answers are settled in, and where
// a streak of failures stops the pass.
func TestFeederCalls(t *testing.T) {
	tests := []struct {
		name     string
		parallel int
		fail     func(uid uint32) bool
		// minCalls and maxCalls bound the calls made; wantErr says
		// whether the batch stopped on a streak.
		minCalls, maxCalls int
		wantErr            bool
	}{
		{name: "ok/one-at-a-time", parallel: 1, fail: func(uint32) bool { return false }, minCalls: 10, maxCalls: 10},
		{name: "ok/four-at-once", parallel: 4, fail: func(uint32) bool { return false }, minCalls: 10, maxCalls: 10},
		{name: "ok/failures-apart", parallel: 4, fail: func(uid uint32) bool { return uid%2 == 0 }, minCalls: 10, maxCalls: 10},
		{name: "fail/streak-one-at-a-time", parallel: 1, fail: func(uint32) bool { return true }, minCalls: maxHandlerErrorStreak, maxCalls: maxHandlerErrorStreak, wantErr: true},
		{name: "fail/streak-four-at-once", parallel: 4, fail: func(uint32) bool { return true }, minCalls: maxHandlerErrorStreak, maxCalls: maxHandlerErrorStreak + 3, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb, err := NewMailbox(MailboxConfig{Address: "127.0.0.1:1", Security: SecurityNone, Username: "u", Password: "p", Parallel: tt.parallel})
			if err != nil {
				t.Fatal(err)
			}
			var (
				mu            sync.Mutex
				calls         []uint32
				running, most int
			)
			h := HandlerFunc(func(_ context.Context, m *Mail) (Disposition, error) {
				mu.Lock()
				calls = append(calls, m.UID)
				running++
				most = max(most, running)
				mu.Unlock()
				defer func() {
					mu.Lock()
					running--
					mu.Unlock()
				}()
				if tt.fail(m.UID) {
					return Leave, errors.New("store down")
				}
				if m.UID%3 == 0 {
					return Rejected, nil
				}
				return Processed, nil
			})
			s := &session{m: mb, h: h, uidValidity: 7, left: map[imap.UID]time.Time{}}
			p, moves, err := feedReady(context.Background(), s, 10)
			var done []handled
			for _, m := range moves {
				done = append(done, m...)
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("feeder.run() = %v, want an error: %v", err, tt.wantErr)
			}
			if n := len(calls); n < tt.minCalls || n > tt.maxCalls {
				t.Errorf("%d handler calls, want %d..%d", n, tt.minCalls, tt.maxCalls)
			}
			if most > tt.parallel {
				t.Errorf("%d calls ran at once, want at most %d", most, tt.parallel)
			}
			if tt.parallel == 1 && !slices.IsSorted(calls) {
				t.Errorf("calls in the order %v, want UID order", calls)
			}
			// Answers are settled in UID order, whatever order they came in.
			var doneUIDs []imap.UID
			for _, d := range done {
				doneUIDs = append(doneUIDs, d.uid)
				want := Processed
				if d.uid%3 == 0 {
					want = Rejected
				}
				if d.disp != want {
					t.Errorf("UID %d settled as %v, want %v", d.uid, d.disp, want)
				}
			}
			if !slices.IsSorted(doneUIDs) {
				t.Errorf("answers settled in the order %v, want UID order", doneUIDs)
			}
			if got, want := p.succeeded+p.fails, len(calls); got != want {
				t.Errorf("%d answers settled, want one per call (%d)", got, want)
			}
			if st := mb.Stats(); st.HandlerErrors != uint64(p.fails) || st.Failing != uint64(p.fails) || st.Fetched != uint64(len(calls)) {
				t.Errorf("Stats() = %+v, want %d handler errors and as many failing, %d fetched (one per call)", st, p.fails, len(calls))
			}
		})
	}
}

// TestFeederCanceled: once ctx ends no call starts, the calls under way
// are waited for, and nothing is moved.
func TestFeederCanceled(t *testing.T) {
	mb, err := NewMailbox(MailboxConfig{Address: "127.0.0.1:1", Security: SecurityNone, Username: "u", Password: "p", Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	calls, finished := 0, 0
	h := HandlerFunc(func(ctx context.Context, m *Mail) (Disposition, error) {
		mu.Lock()
		calls++
		if calls == 2 {
			cancel()
		}
		mu.Unlock()
		<-ctx.Done()
		mu.Lock()
		finished++
		mu.Unlock()
		return Leave, ctx.Err()
	})
	s := &session{m: mb, h: h, uidValidity: 7, left: map[imap.UID]time.Time{}}
	_, moves, err := feedReady(ctx, s, 10)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("feeder.run() = %v, want context.Canceled", err)
	}
	if len(moves) != 0 {
		t.Errorf("moves %v after the end of ctx, want none", moves)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 || finished != calls {
		t.Errorf("%d calls started, %d finished, want 2 and 2: no call after the end of ctx, none left running", calls, finished)
	}
}

// TestFeederSlowCall: a slow call holds up none of the calls behind it,
// and the answers are still settled in UID order.
func TestFeederSlowCall(t *testing.T) {
	mb, err := NewMailbox(MailboxConfig{Address: "127.0.0.1:1", Security: SecurityNone, Username: "u", Password: "p", Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var mu sync.Mutex
	calls := 0
	others := make(chan struct{})
	h := HandlerFunc(func(_ context.Context, m *Mail) (Disposition, error) {
		mu.Lock()
		calls++
		if calls == n {
			close(others)
		}
		mu.Unlock()
		if m.UID == 1 {
			select {
			case <-others:
			case <-time.After(testTimeout):
				return Leave, errors.New("the other calls waited for this one")
			}
		}
		return Processed, nil
	})
	s := &session{m: mb, h: h, uidValidity: 7, left: map[imap.UID]time.Time{}}
	p, moves, err := feedReady(context.Background(), s, n)
	if err != nil || p.fails != 0 {
		t.Fatalf("feeder.run() = %v with %d failures, want every call through", err, p.fails)
	}
	var uids []imap.UID
	for _, m := range moves {
		for _, h := range m {
			uids = append(uids, h.uid)
		}
	}
	if len(uids) != n || !slices.IsSorted(uids) {
		t.Errorf("moved UIDs %v, want 1 to %d in order", uids, n)
	}
}

// TestFeederMovesInBatches: the messages answered for are moved metaBatch
// at a time as the calls go on, and the rest once the pass is through.
func TestFeederMovesInBatches(t *testing.T) {
	for _, parallel := range []int{1, 4} {
		t.Run(fmt.Sprintf("ok/parallel-%d", parallel), func(t *testing.T) {
			mb, err := NewMailbox(MailboxConfig{Address: "127.0.0.1:1", Security: SecurityNone, Username: "u", Password: "p", Parallel: parallel})
			if err != nil {
				t.Fatal(err)
			}
			s := &session{m: mb, h: HandlerFunc(func(context.Context, *Mail) (Disposition, error) { return Processed, nil }),
				uidValidity: 7, left: map[imap.UID]time.Time{}}
			const n = 2*metaBatch + 22
			_, moves, err := feedReady(context.Background(), s, n)
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			var uids []imap.UID
			for _, m := range moves {
				sizes = append(sizes, len(m))
				for _, h := range m {
					uids = append(uids, h.uid)
				}
			}
			// Answers settle several at a time when calls overlap: a move
			// may carry more than metaBatch.
			ok := len(sizes) >= 2
			for _, size := range sizes[:len(sizes)-1] {
				ok = ok && size >= metaBatch
			}
			if !ok {
				t.Errorf("moves of %v messages, want at least %d in each but the last, and more than one move", sizes, metaBatch)
			}
			if len(uids) != n || !slices.IsSorted(uids) {
				t.Errorf("moved UIDs %v, want 1 to %d in order", uids, n)
			}
		})
	}
}

// TestFetchSectionsBudget: the bodies kept from one FETCH stay within the
// budget whatever the sizes announced; the messages beyond it are fetched
// again, and every one comes whole.
func TestFetchSectionsBudget(t *testing.T) {
	ms := newMemServer(t, memCaps[0].caps, "")
	var mu sync.Mutex
	sent := 0 // FETCH responses carrying a body
	proxy := imaptest.NewProxy(t, ms.addr, func(line []byte) []byte {
		if bytes.Contains(line, []byte(" FETCH (")) && bytes.Contains(line, []byte("BODY[]")) {
			mu.Lock()
			sent++
			mu.Unlock()
		}
		return line
	})
	tc := dialTestClient(t, ms.addr, memUser, memPassword)
	var raws [][]byte
	for i := range 5 {
		raw := testMessage(fmt.Sprintf("budget-%d", i), 1000)
		raws = append(raws, raw)
		appendMessage(t, tc, "INBOX", raw)
	}
	mb, err := NewMailbox(memConfig(proxy.Addr, newLogSink()))
	if err != nil {
		t.Fatal(err)
	}
	c := dialTestClient(t, proxy.Addr, memUser, memPassword)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	s := &session{m: mb, c: c}
	uids := []imap.UID{1, 2, 3, 4, 5}
	// Room for two messages of the five per FETCH: 5, then 3, then 1
	// bodies sent.
	budget := int64(2*len(raws[0]) + 100)
	got, err := s.fetchSections(uids, nil, 10_000, budget)
	if err != nil {
		t.Fatalf("fetchSections() error = %v", err)
	}
	for i, uid := range uids {
		if body := got[uid]; body.over || !bytes.Equal(body.raw, raws[i]) {
			t.Errorf("UID %d: over %v, %d bytes, want the %d appended", uid, body.over, len(body.raw), len(raws[i]))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if sent != 5+3+1 {
		t.Errorf("the server sent %d bodies, want 9: five, then the three and the one beyond the budget", sent)
	}
}
