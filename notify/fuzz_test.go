package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	gomessage "github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"

	"github.com/revokd/revokd/queue"
)

// allowedFields are the only header fields a notification may have,
// whatever the outbox row holds.
var allowedFields = map[string]bool{
	"From": true, "To": true, "Subject": true, "Date": true, "Message-Id": true, "In-Reply-To": true,
	"References": true, "Auto-Submitted": true, "X-Auto-Response-Suppress": true, "Mime-Version": true,
	"Content-Type": true, "Content-Transfer-Encoding": true,
}

// FuzzCompose feeds hostile recipients, subjects, bodies and Message-IDs
// to the message builder: it either refuses the mail, or builds one that
// reads back with the fields it sets and no other, one recipient, and the
// body intact.
func FuzzCompose(f *testing.F) {
	f.Add(holder, "Re: =?utf-8?q?Demande_de_r=C3=A9vocation?=", frenchBody, "<req-1@example.fr>")
	f.Add(holder+"\r\nBcc: victim@example.net", "Re: x", "b", "<a@b>")
	f.Add(holder, "Re: =?utf-8?q?hello=0D=0ABcc:_victim@example.net?=", "line\r\n.\r\nMAIL FROM:<x@y>\r\n", "<a@b>\r\nBcc: x@y")
	f.Add("Desk <revocation@ca.example>", "", "", "")
	f.Add("élodie@exemple.fr", strings.Repeat("é", 300), strings.Repeat("x", 2000)+" \t\n", "<"+strings.Repeat("a", 300)+"@b>")
	f.Add(`"quoted local"@example.fr`, "=?iso-8859-1?q?r=E9vocation?=", "\x00\x7f\xff\xfe", "<x@[127.0.0.1]>")
	r, err := (&Sender{Store: nopStore{}, Address: "127.0.0.1:25", Security: SecurityNone, From: deskAddress,
		Now: func() time.Time { return time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC) }}).resolve()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, to, subject, body, origID string) {
		checkCompose(t, r, to, subject, body, origID)
	})
}

// checkCompose checks what compose makes of one outbox row.
func checkCompose(t *testing.T, r *sender, to, subject, body, origID string) {
	row := &queue.OutboxRow{ID: 1, MailID: 1, Kind: "result", To: to, Subject: subject, Body: body, OriginalMessageID: origID}
	msg, err := r.compose(row)
	if err != nil {
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Fatalf("compose error %v is not a RefusedError", err)
		}
		return
	}
	if msg.to == "" || strings.ContainsAny(msg.to, "\r\n<>") || strings.EqualFold(msg.to, deskAddress) {
		t.Fatalf("compose accepted recipient %q", msg.to)
	}
	for _, line := range bytes.Split(msg.data, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line of %d bytes", len(line))
		}
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("bare CR or LF in line %q", line)
		}
	}
	e, err := gomessage.Read(bytes.NewReader(msg.data))
	if err != nil {
		t.Fatalf("the message does not read back: %v\n%s", err, msg.data)
	}
	fields := e.Header.Fields()
	seen := map[string]int{}
	for fields.Next() {
		k := fields.Key()
		if !allowedFields[k] {
			t.Fatalf("unexpected header field %q: %q", k, fields.Value())
		}
		seen[k]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("header field %s appears %d times", k, n)
		}
	}
	h := gomail.Header{Header: e.Header}
	if isASCII(msg.to) {
		addrs, err := h.AddressList("To")
		if err != nil || len(addrs) != 1 || addrs[0].Address != msg.to {
			t.Fatalf("To = %q (%v), want exactly %q", h.Get("To"), err, msg.to)
		}
	}
	got, err := io.ReadAll(e.Body)
	if err != nil {
		t.Fatalf("decoding the body: %v", err)
	}
	if want := normaliseBody(body); strings.ReplaceAll(string(got), "\r\n", "\n") != want && len(want) <= maxBodyBytes {
		t.Fatalf("body %q, want %q", got, want)
	}
}

// nopStore satisfies Store for tests that never reach it.
type nopStore struct{}

func (nopStore) ClaimOutbox(ctx context.Context, lease time.Duration) (*queue.OutboxRow, error) {
	return nil, nil
}
func (nopStore) MarkSent(ctx context.Context, id int64) error { return nil }
func (nopStore) MarkFailed(ctx context.Context, id int64, reason string, permanent bool) error {
	return nil
}
func (nopStore) MarkSuppressed(ctx context.Context, id int64, reason string) error { return nil }
func (nopStore) CountSent(ctx context.Context, q queue.SentQuery) (int, error)     { return 0, nil }
