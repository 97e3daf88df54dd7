package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/revokd/revokd/queue"
)

// BenchmarkWorker measures the worker against a real Dovecot, in process:
//   - drain: REVOKD_BENCH_MAILS (default 1,000) holders' requests (each
//     signed, each for a certificate of its own, revocation checked online
//     against the test CA on loopback) appended while the worker is down,
//     then the time to handle them all;
//   - latency: with the worker idling (IDLE), requests appended one at a
//     time at a steady rate, and the time from the end of each APPEND to
//     the commit of its outcome, p50 and p95.
//
// REVOKD_BENCH_POSTGRES=1 runs it on a throwaway PostgreSQL instead of
// SQLite.
//
// Run it with: go test -run XXX -bench Worker -benchtime 1x ./cmd/revokd
func BenchmarkWorker(b *testing.B) {
	const paced, pace = 100, 20 * time.Millisecond
	backlog := benchMails(b, 1000)
	dv := startDovecot(b)
	world := newWorld(b, backlog+paced, false)
	for b.Loop() {
		user, err := dv.NewUser()
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		cfg, err := loadConfig(writeRunConfig(b, dir, dv, user, world.sc))
		if err != nil {
			b.Fatal(err)
		}
		if os.Getenv("REVOKD_BENCH_POSTGRES") != "" {
			cfg.Store.URL = throwawayPostgres(b, "bench")
		}
		ctx := context.Background()
		a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := world.sc.Load(ctx, a.store); err != nil {
			b.Fatal(err)
		}
		c := imapLogin(b, dv, user)
		for _, m := range world.mails[:backlog] {
			imapAppend(b, c, m)
		}

		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- a.run(runCtx, slog.New(slog.DiscardHandler)) }()
		waitHandled(b, a, backlog)
		drain := time.Since(start)

		appendedAt := map[string]time.Time{}
		for i, m := range world.mails[backlog:] {
			imapAppend(b, c, m)
			appendedAt[fmt.Sprintf("<demo-%d@example.fr>", backlog+i)] = time.Now()
			time.Sleep(pace)
		}
		waitHandled(b, a, backlog+paced)
		stop()
		<-done

		reportDrainAndLatency(b, a.store, backlog, drain, appendedAt)
		a.store.Close()
		os.RemoveAll(filepath.Join(dir, "data"))
	}
}

func waitHandled(b *testing.B, a *app, n int) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s := a.mailbox.Stats()
		if int(s.Processed+s.Rejected) >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("handled %d of %d mails in 2 minutes", s.Processed+s.Rejected, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// reportDrainAndLatency reports the drain rate of n mails in drain, and
// the p50 and p95 of the time from each paced mail's APPEND (appendedAt,
// by Message-ID) to the commit of its outcome.
func reportDrainAndLatency(b *testing.B, st *queue.Store, n int, drain time.Duration, appendedAt map[string]time.Time) {
	b.Helper()
	rows, err := st.ListRequests(context.Background(), queue.ListOptions{All: true})
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for _, r := range rows {
		if at, ok := appendedAt[r.MessageID]; ok {
			lat = append(lat, r.CreatedAt.Sub(at))
		}
	}
	if len(lat) != len(appendedAt) {
		b.Fatalf("%d paced mails have an outcome, want %d", len(lat), len(appendedAt))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/drain.Seconds(), "mails/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}
