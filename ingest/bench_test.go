package ingest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/revokd/revokd/internal/imaptest"
)

// BenchmarkDovecotDrain measures how fast a Mailbox empties a backlog of
// mails in a real Dovecot, with a handler that takes a fixed time per
// mail (a store commit, a wait for a verifier): mails/s, and the CPU time
// is Dovecot's to read with ps. Run it with:
//
//	go test -run XXX -bench DovecotDrain -benchtime 1x ./ingest
func BenchmarkDovecotDrain(b *testing.B) {
	const backlog, handlerTime = 500, 5 * time.Millisecond
	if imaptest.DovecotPath() == "" {
		b.Skip("dovecot is not installed")
	}
	dir, err := os.MkdirTemp("", "dovecot")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dv, err := imaptest.StartDovecot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer dv.Stop()
	for _, parallel := range []int{1, 8} {
		b.Run(fmt.Sprintf("parallel-%d", parallel), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				user, err := dv.NewUser()
				if err != nil {
					b.Fatal(err)
				}
				tc := dialTestClient(b, dv.Addr, user, dv.Password)
				for i := range backlog {
					appendMessage(b, tc, "INBOX", testMessage(fmt.Sprintf("drain-%d", i), 20_000))
				}
				mb, err := NewMailbox(MailboxConfig{Address: dv.Addr, Security: SecurityNone, Username: user, Password: dv.Password, Parallel: parallel})
				if err != nil {
					b.Fatal(err)
				}
				h := HandlerFunc(func(context.Context, *Mail) (Disposition, error) {
					time.Sleep(handlerTime)
					return Processed, nil
				})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				b.StartTimer()
				start := time.Now()
				go func() { done <- mb.Run(ctx, h) }()
				for mb.Stats().Processed < backlog {
					time.Sleep(time.Millisecond)
				}
				elapsed := time.Since(start)
				b.StopTimer()
				cancel()
				<-done
				b.ReportMetric(backlog/elapsed.Seconds(), "mails/s")
			}
		})
	}
}
