package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/revokd/revokd/internal/imaptest"
	"github.com/revokd/revokd/queue"
)

// BenchmarkWorkers is the load benchmark of whole revokd run processes
// against a real Dovecot, on each store:
//   - drain: REVOKD_BENCH_MAILS (default 10,000) holders' requests, each
//     signed, each for a certificate of its own, appended while no worker
//     runs; then the workers are started and the time until all are moved
//     out of INBOX is the drain rate;
//   - latency: with the workers idling (IDLE), 100 more requests appended
//     one every 20 ms, and the time from the end of each APPEND to the
//     commit of its outcome, p50 and p95;
//   - the peak resident memory of each worker (VmHWM), the largest shown.
//
// scripts/bench-worker.sh runs it.
func BenchmarkWorkers(b *testing.B) {
	n := benchMails(b, 10000)
	const paced, pace = 100, 20 * time.Millisecond
	dv := startDovecot(b)
	bin := revokdBinary(b)
	world := newWorld(b, n+paced, false)
	for _, c := range []struct {
		name     string
		workers  int
		postgres bool
	}{{"sqlite-1-worker", 1, false}, {"postgres-1-worker", 1, true}, {"postgres-3-workers", 3, true}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				benchWorkers(b, dv, bin, world, n, paced, pace, c.workers, c.postgres)
			}
		})
	}
}

func benchWorkers(b *testing.B, dv *imaptest.Dovecot, bin string, world *crashWorld, n, paced int, pace time.Duration,
	workers int, postgres bool) {
	user, err := dv.NewUser()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	cfgPath := writeRunConfig(b, dir, dv, user, world.sc)
	opts := &queue.Options{}
	if postgres {
		opts.URL = throwawayPostgres(b, "bench")
		f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(f, "[store]\nurl = %q\n", opts.URL)
		f.Close()
	}
	ctx := context.Background()
	st, err := queue.OpenWith(ctx, filepath.Join(dir, "data"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := world.sc.Load(ctx, st); err != nil {
		b.Fatal(err)
	}
	c := imapLogin(b, dv, user)
	for _, m := range world.mails[:n] {
		imapAppend(b, c, m)
	}

	procs := make([]*os.Process, workers)
	for i := range procs {
		cmd := exec.Command(bin, "run", "--config", cfgPath)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.log", i)))
		if err != nil {
			b.Fatal(err)
		}
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		procs[i] = cmd.Process
		defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	}
	start := time.Now()
	checker := imapLogin(b, dv, user)
	waitMoved(b, checker, n, start)
	drain := time.Since(start)

	appendedAt := map[string]time.Time{}
	for i, m := range world.mails[n : n+paced] {
		imapAppend(b, c, m)
		appendedAt[fmt.Sprintf("<demo-%d@example.fr>", n+i)] = time.Now()
		time.Sleep(pace)
	}
	waitMoved(b, checker, n+paced, start)
	var peak int64
	for _, p := range procs {
		peak = max(peak, peakRSS(b, p.Pid))
	}
	reportDrainAndLatency(b, st, n, drain, appendedAt)
	b.ReportMetric(float64(peak)/1024, "peak-rss-MB")
}

// benchMails is REVOKD_BENCH_MAILS, or def.
func benchMails(b *testing.B, def int) int {
	return mailsFromEnv(b, "REVOKD_BENCH_MAILS", def, 1)
}

// mailsFromEnv is the number of mails the environment variable name
// asks for (refused below least), or def when it is not set.
func mailsFromEnv(t testing.TB, name string, def, least int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		t.Fatalf("%s=%q: want a number of mails, at least %d", name, s, least)
	}
	return n
}

// waitMoved waits until n mails left INBOX for Processed or Rejected.
func waitMoved(b *testing.B, c *imapclient.Client, n int, start time.Time) {
	b.Helper()
	for int(messages(b, c, "Processed")+messages(b, c, "Rejected")) < n {
		if time.Since(start) > time.Hour {
			b.Fatalf("fewer than %d mails handled in an hour", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// peakRSS returns a live process's peak resident memory (VmHWM), in KiB.
func peakRSS(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	b.Fatalf("no VmHWM for pid %d", pid)
	return 0
}
