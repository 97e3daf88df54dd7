package queue

import (
	"context"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/revocation"
)

// workerStore is the worker's interface, as the worker package declares it.
type workerStore interface {
	HandledMail(ctx context.Context, key MailKey, rawSHA256 string) (d Disposition, found bool, err error)
	ArchiveMail(ctx context.Context, m IncomingMail) (mailID int64, err error)
	RecordOutcome(ctx context.Context, o Outcome) error
}

var _ workerStore = (*Store)(nil)

// mailOutcome is one mail of a scenario and what it led to.
type mailOutcome struct {
	disp        Disposition
	reqs        []RequestOutcome
	notARequest string
}

func TestRecordOutcome(t *testing.T) {
	tests := []struct {
		name  string
		mails []mailOutcome
		// revoked registers the certificate 0a1b as revoked first.
		revoked    bool
		wantStates []revocation.State // every request, by id
		wantJobs   int
		wantNote   string // in the last request's note
		wantJobRef []int64
		wantCodes  []string // every request's reason code, when set
	}{{
		name:       "ok/accepted-queues-a-job",
		mails:      []mailOutcome{{disp: DispositionProcessed, reqs: []RequestOutcome{acceptedReq("0A1B", "pdf1", "form1")}}},
		wantStates: []revocation.State{revocation.StateQueued},
		wantJobs:   1,
		wantJobRef: []int64{1},
	}, {
		name:       "ok/rejected-queues-nothing",
		mails:      []mailOutcome{{disp: DispositionRejected, reqs: []RequestOutcome{rejectedReq("hash_failure", "pdf1")}}},
		wantStates: []revocation.State{revocation.StateRejected},
		wantCodes:  []string{"hash_failure"},
		wantJobRef: []int64{0},
	}, {
		name:       "ok/rejected-without-a-code-is-unspecified",
		mails:      []mailOutcome{{disp: DispositionRejected, reqs: []RequestOutcome{rejectedReq("", "pdf1")}}},
		wantStates: []revocation.State{revocation.StateRejected},
		wantCodes:  []string{string(ReasonCodeUnspecified)},
		wantJobRef: []int64{0},
	}, {
		name:       "ok/not-a-request",
		mails:      []mailOutcome{{disp: DispositionProcessed, notARequest: "no PDF attached"}},
		wantStates: []revocation.State{revocation.StateNotARequest},
		wantJobRef: []int64{0},
	}, {
		name: "ok/replay-of-the-same-pdf-in-another-mail",
		mails: []mailOutcome{
			{disp: DispositionProcessed, reqs: []RequestOutcome{acceptedReq("0a1b", "pdf1", "form1")}},
			{disp: DispositionProcessed, reqs: []RequestOutcome{acceptedReq("0a1b", "pdf1", "form1")}},
		},
		wantStates: []revocation.State{revocation.StateQueued, revocation.StateAccepted},
		wantJobs:   1,
		wantNote:   "replay of request 1 (the same PDF); certificate a1b already has revocation job 1 (pending)",
		wantJobRef: []int64{1, 1},
	}, {
		name: "ok/same-form-for-the-same-serial-signed-again",
		mails: []mailOutcome{
			{disp: DispositionProcessed, reqs: []RequestOutcome{acceptedReq("0a1b", "pdf1", "form1")}},
			{disp: DispositionProcessed, reqs: []RequestOutcome{acceptedReq("a1b", "pdf2", "form1")}},
		},
		wantStates: []revocation.State{revocation.StateQueued, revocation.StateAccepted},
		wantJobs:   1,
		wantNote:   "replay of request 1 (the same signed form)",
		wantJobRef: []int64{1, 1},
	}, {
		name: "ok/another-request-for-a-queued-certificate",
		mails: []mailOutcome{
			{disp: DispositionProcessed, reqs: []RequestOutcome{acceptedReq("0a1b", "pdf1", "form1")}},
			{disp: DispositionProcessed, reqs: []RequestOutcome{acceptedReq("0a1b", "pdf2", "form2")}},
		},
		wantStates: []revocation.State{revocation.StateQueued, revocation.StateAccepted},
		wantJobs:   1,
		wantNote:   "certificate a1b already has revocation job 1 (pending)",
		wantJobRef: []int64{1, 1},
	}, {
		name: "ok/two-forms-for-one-certificate-in-one-mail",
		mails: []mailOutcome{{disp: DispositionProcessed, reqs: []RequestOutcome{
			acceptedReq("0a1b", "pdf1", "form1"), acceptedReq("0a1b", "pdf2", "form2"),
		}}},
		wantStates: []revocation.State{revocation.StateQueued, revocation.StateAccepted},
		wantJobs:   1,
		wantNote:   "already has revocation job 1",
		wantJobRef: []int64{1, 1},
	}, {
		name: "ok/two-certificates-in-one-mail",
		mails: []mailOutcome{{disp: DispositionProcessed, reqs: []RequestOutcome{
			acceptedReq("0a1b", "pdf1", "form1"), acceptedReq("0a1c", "pdf2", "form2"),
		}}},
		wantStates: []revocation.State{revocation.StateQueued, revocation.StateQueued},
		wantJobs:   2,
		wantJobRef: []int64{1, 2},
	}, {
		name: "ok/replay-of-a-rejected-pdf-is-rejected-again",
		mails: []mailOutcome{
			{disp: DispositionRejected, reqs: []RequestOutcome{rejectedReq("hash_failure", "pdf1")}},
			{disp: DispositionRejected, reqs: []RequestOutcome{rejectedReq("hash_failure", "pdf1")}},
		},
		wantStates: []revocation.State{revocation.StateRejected, revocation.StateRejected},
		wantJobRef: []int64{0, 0},
	}, {
		name:       "ok/certificate-revoked-in-the-registry",
		revoked:    true,
		mails:      []mailOutcome{{disp: DispositionProcessed, reqs: []RequestOutcome{acceptedReq("0a1b", "pdf1", "form1")}}},
		wantStates: []revocation.State{revocation.StateAccepted},
		wantNote:   "certificate a1b is already revoked: nothing to queue",
		wantJobRef: []int64{0},
	}, {
		name: "ok/decision-says-already-revoked",
		mails: []mailOutcome{{disp: DispositionProcessed, reqs: []RequestOutcome{func() RequestOutcome {
			r := acceptedReq("0a1b", "pdf1", "form1")
			r.ReasonCode = authorize.CodeAlreadyRevoked
			return r
		}()}}},
		wantStates: []revocation.State{revocation.StateAccepted},
		wantNote:   "is already revoked",
		wantJobRef: []int64{0},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := openClocked(t, t.TempDir(), newTestClock())
			if tt.revoked {
				if _, err := s.UpsertCertificate(ctx, authorize.Certificate{Serial: big.NewInt(0xa1b), IssuerDN: "CN=Our CA",
					SHA256: "aa", Revoked: true, RevokedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
					t.Fatal(err)
				}
			}
			for i, m := range tt.mails {
				id := archive(t, s, uint32(i+1))
				o := Outcome{MailID: id, Disposition: m.disp, Requests: m.reqs, NotARequest: m.notARequest, Outbox: ack("holder@example.fr")}
				if err := s.RecordOutcome(ctx, o); err != nil {
					t.Fatalf("RecordOutcome(mail %d): %v", i+1, err)
				}
				d, found, err := s.HandledMail(ctx, inbox(uint32(i+1)), "")
				if err != nil || !found || d != m.disp {
					t.Errorf("HandledMail(mail %d) = %q, %v, %v, want %q, true", i+1, d, found, err, m.disp)
				}
			}
			reqs, err := s.ListRequests(ctx, ListOptions{All: true})
			if err != nil {
				t.Fatal(err)
			}
			var gotStates []revocation.State
			var gotRefs []int64
			for i := len(reqs) - 1; i >= 0; i-- { // oldest first
				gotStates = append(gotStates, reqs[i].State)
				var ref int64
				if reqs[i].JobID != nil {
					ref = *reqs[i].JobID
				}
				gotRefs = append(gotRefs, ref)
			}
			if diff := cmp.Diff(tt.wantStates, gotStates); diff != "" {
				t.Errorf("request states (-want +got):\n%s", diff)
			}
			if tt.wantCodes != nil {
				var codes []string
				for i := len(reqs) - 1; i >= 0; i-- {
					codes = append(codes, string(reqs[i].ReasonCode))
				}
				if diff := cmp.Diff(tt.wantCodes, codes); diff != "" {
					t.Errorf("reason codes (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.wantJobRef, gotRefs); diff != "" {
				t.Errorf("request job ids (-want +got):\n%s", diff)
			}
			if got := count(t, s, "revocation_jobs"); got != tt.wantJobs {
				t.Errorf("%d revocation jobs, want %d", got, tt.wantJobs)
			}
			if got := count(t, s, "outbox"); got != len(tt.mails) {
				t.Errorf("%d outbox rows, want %d", got, len(tt.mails))
			}
			if note := reqs[0].Note; !strings.Contains(note, tt.wantNote) || (tt.wantNote == "" && note != "") {
				t.Errorf("last request's note = %q, want %q", note, tt.wantNote)
			}
			for _, r := range reqs {
				if r.State == revocation.StateAccepted || r.State == revocation.StateQueued {
					if r.ReasonCode != "" {
						t.Errorf("request %d: reasonCode %q, want \"\" when accepted", r.ID, r.ReasonCode)
					}
				}
			}
			if _, err := s.VerifyAudit(ctx); err != nil {
				t.Errorf("VerifyAudit: %v", err)
			}
		})
	}
}

func TestRecordOutcomeTwiceIsANoOp(t *testing.T) {
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	id := record(t, s, 1, DispositionProcessed, acceptedReq("0a1b", "pdf1", "form1"))
	audits := count(t, s, "audit")
	// A second, different outcome for the same mail (the worker crashed
	// after committing and before moving the mail) changes nothing.
	err := s.RecordOutcome(ctx, Outcome{MailID: id, Disposition: DispositionRejected,
		Requests: []RequestOutcome{rejectedReq("hash_failure", "pdf9")}, Outbox: ack("x@example.fr")})
	if err != nil {
		t.Fatalf("second RecordOutcome: %v", err)
	}
	for table, want := range map[string]int{"requests": 1, "revocation_jobs": 1, "outbox": 1, "audit": audits} {
		if got := count(t, s, table); got != want {
			t.Errorf("%s: %d rows after the second call, want %d", table, got, want)
		}
	}
	d, found, err := s.HandledMail(ctx, inbox(1), "")
	if err != nil || !found || d != DispositionProcessed {
		t.Errorf("HandledMail = %q, %v, %v, want processed", d, found, err)
	}
}

func TestRecordOutcomeStoresEvidence(t *testing.T) {
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	req := acceptedReq("0a1b", "%PDF-1.7 form", "form1")
	record(t, s, 1, DispositionProcessed, req)
	record(t, s, 2, DispositionProcessed, req)
	d, err := s.Request(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sum, kind string
		want      []byte
	}{
		{d.PDFSHA256, EvidencePDF, req.PDF},
		{d.ReportSHA256, EvidenceReport, req.ReportJSON},
		{d.DecisionSHA256, EvidenceDecision, req.DecisionJSON},
		{d.Mail.RawSHA256, EvidenceMail, rawMail(1)},
	} {
		b, kind, err := s.Evidence(ctx, c.sum)
		if err != nil || kind != c.kind || string(b) != string(c.want) {
			t.Errorf("Evidence(%s) = %q, %q, %v, want %q, %q", c.sum, b, kind, err, c.want, c.kind)
		}
	}
	// Two mails, one PDF, one report, one decision: four pieces, not six
	// (plus the two raw mails).
	if got := count(t, s, "evidence"); got != 5 {
		t.Errorf("%d evidence rows, want 5 (2 mails, 1 PDF, 1 report, 1 decision)", got)
	}
	if _, _, err := s.Evidence(ctx, strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Evidence(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestRecordOutcomeErrors(t *testing.T) {
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	id := archive(t, s, 1)
	with := func(f func(*RequestOutcome)) []RequestOutcome {
		r := acceptedReq("0a1b", "pdf1", "form1")
		f(&r)
		return []RequestOutcome{r}
	}
	tests := []struct {
		name    string
		o       Outcome
		wantErr error
		wantMsg string
	}{
		{"fail/unknown-mail", Outcome{MailID: 99, Disposition: DispositionProcessed, NotARequest: "no PDF attached"}, ErrNotFound, "mail 99"},
		{"fail/no-disposition", Outcome{MailID: id, NotARequest: "no PDF attached"}, ErrInvalidOutcome, `disposition ""`},
		{"fail/neither-request-nor-reason", Outcome{MailID: id, Disposition: DispositionProcessed}, ErrInvalidOutcome, "no request and no reason"},
		{"fail/both-request-and-reason", Outcome{MailID: id, Disposition: DispositionProcessed, NotARequest: "x",
			Requests: with(func(*RequestOutcome) {})}, ErrInvalidOutcome, "requests and a reason"},
		{"fail/accepted-with-a-reason-code", Outcome{MailID: id, Disposition: DispositionProcessed,
			Requests: with(func(r *RequestOutcome) { r.ReasonCode = "holder_mismatch" })}, ErrInvalidOutcome, `accepted with reason code "holder_mismatch"`},
		{"fail/accepted-without-serial", Outcome{MailID: id, Disposition: DispositionProcessed,
			Requests: with(func(r *RequestOutcome) { r.Serial = "" })}, ErrInvalidOutcome, "without a serial"},
		{"fail/accepted-with-a-bad-serial", Outcome{MailID: id, Disposition: DispositionProcessed,
			Requests: with(func(r *RequestOutcome) { r.Serial = "xyz" })}, ErrInvalidOutcome, `serial "xyz"`},
		{"fail/accepted-without-issuer", Outcome{MailID: id, Disposition: DispositionProcessed,
			Requests: with(func(r *RequestOutcome) { r.IssuerDN = "" })}, ErrInvalidOutcome, "without a serial and an issuer"},
		{"fail/accepted-with-reason-7", Outcome{MailID: id, Disposition: DispositionProcessed,
			Requests: with(func(r *RequestOutcome) { r.RevocationReason = 7 })}, ErrInvalidOutcome, "revocation reason 7"},
		{"fail/queued-is-not-for-the-worker", Outcome{MailID: id, Disposition: DispositionProcessed,
			Requests: with(func(r *RequestOutcome) { r.State = revocation.StateQueued })}, ErrInvalidOutcome, `state "queued"`},
		{"fail/pdf-hash-mismatch", Outcome{MailID: id, Disposition: DispositionProcessed,
			Requests: with(func(r *RequestOutcome) { r.PDFSHA256 = strings.Repeat("a", 64) })}, ErrInvalidOutcome, "is not the hash of PDF"},
		{"fail/outbox-without-recipient", Outcome{MailID: id, Disposition: DispositionProcessed, NotARequest: "x",
			Outbox: []OutboxMessage{{Kind: "acknowledgement"}}}, ErrInvalidOutcome, "without kind or recipient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RecordOutcome(ctx, tt.o)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("RecordOutcome = %v, want %v with %q", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
	// Nothing was written by the refused calls.
	for _, table := range []string{"requests", "revocation_jobs", "outbox"} {
		if got := count(t, s, table); got != 0 {
			t.Errorf("%s has %d rows after refused outcomes, want 0", table, got)
		}
	}
}

func TestArchiveMail(t *testing.T) {
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	m := IncomingMail{Key: inbox(1), Raw: rawMail(1), MessageID: "<1@example.fr>", From: "a@example.fr"}
	id1, err := s.ArchiveMail(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	m.RawSHA256 = sha256Hex(m.Raw)
	id2, err := s.ArchiveMail(ctx, m)
	if err != nil || id2 != id1 {
		t.Errorf("ArchiveMail again = %d, %v, want %d", id2, err, id1)
	}
	if got := count(t, s, "evidence"); got != 1 {
		t.Errorf("%d evidence rows, want 1", got)
	}

	tests := []struct {
		name    string
		m       IncomingMail
		wantErr error
	}{
		{"fail/same-key-other-bytes", IncomingMail{Key: inbox(1), Raw: rawMail(2)}, ErrKeyConflict},
		{"fail/hash-is-not-of-raw", IncomingMail{Key: inbox(3), Raw: rawMail(3), RawSHA256: sha256Hex(rawMail(4))}, ErrInvalidOutcome},
		{"fail/hash-without-raw", IncomingMail{Key: inbox(3), RawSHA256: sha256Hex(rawMail(3))}, ErrInvalidOutcome},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.ArchiveMail(ctx, tt.m); !errors.Is(err, tt.wantErr) {
				t.Errorf("ArchiveMail = %v, want %v", err, tt.wantErr)
			}
		})
	}

	// A mail over the cap: the row without the bytes, then, once the cap
	// was raised, the bytes.
	over := IncomingMail{Key: inbox(5), Size: 50 << 20, OverCap: true}
	id5, err := s.ArchiveMail(ctx, over)
	if err != nil {
		t.Fatal(err)
	}
	whole := IncomingMail{Key: inbox(5), Raw: rawMail(5)}
	if id, err := s.ArchiveMail(ctx, whole); err != nil || id != id5 {
		t.Fatalf("ArchiveMail whole after over cap = %d, %v, want %d", id, err, id5)
	}
	var sum string
	if err := s.db.QueryRow(`SELECT raw_sha256 FROM mails WHERE id = ?`, id5).Scan(&sum); err != nil || sum != sha256Hex(rawMail(5)) {
		t.Errorf("raw_sha256 = %q, %v, want the hash of the whole mail", sum, err)
	}
}

func TestHandledMail(t *testing.T) {
	ctx := context.Background()
	s := openClocked(t, t.TempDir(), newTestClock())
	record(t, s, 1, DispositionRejected, rejectedReq("hash_failure", "pdf1"))
	archive(t, s, 2) // archived, not handled: the worker crashed before its outcome
	tests := []struct {
		name      string
		key       MailKey
		sum       string
		wantFound bool
		wantDisp  Disposition
	}{
		{"ok/by-key", inbox(1), "", true, DispositionRejected},
		{"ok/by-hash-after-a-uidvalidity-change", MailKey{Mailbox: "INBOX", UIDValidity: 8, UID: 40}, sha256Hex(rawMail(1)), true, DispositionRejected},
		{"ok/by-hash-in-another-mailbox", MailKey{Mailbox: "Archive", UIDValidity: 1, UID: 1}, sha256Hex(rawMail(1)), true, DispositionRejected},
		{"ok/archived-but-not-handled", inbox(2), sha256Hex(rawMail(2)), false, ""},
		{"ok/unknown-key-no-hash", inbox(3), "", false, ""},
		{"ok/unknown-key-unknown-hash", inbox(3), sha256Hex(rawMail(3)), false, ""},
		{"ok/over-cap-has-no-hash", inbox(4), "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, found, err := s.HandledMail(ctx, tt.key, tt.sum)
			if err != nil || found != tt.wantFound || d != tt.wantDisp {
				t.Errorf("HandledMail(%v, %.8s) = %q, %v, %v, want %q, %v", tt.key, tt.sum, d, found, err, tt.wantDisp, tt.wantFound)
			}
		})
	}
}

func TestLease(t *testing.T) {
	ctx := context.Background()
	clk := newTestClock()
	dir := t.TempDir()
	// Two stores on one folder stand for two processes: each takes its
	// own file lock.
	a, b := openClocked(t, dir, clk), openClocked(t, dir, clk)
	la, lb := a.Lease("imap:desk@imap.example.fr:993/INBOX"), b.Lease("imap:desk@imap.example.fr:993/INBOX")
	step := func(l Lease, who string, want bool) LeaseHolder {
		t.Helper()
		got, h, err := l.TryAcquire(ctx)
		if err != nil || got != want {
			t.Errorf("TryAcquire(%s) = %v, %v, want %v", who, got, err, want)
		}
		return h
	}
	taken := clk.Now()
	step(la, "a", true)
	step(la, "a again", true)
	clk.Advance(time.Hour) // no renewal: a holds it while it lives
	host, _ := os.Hostname()
	if h := step(lb, "b", false); h.Host != host || h.PID != os.Getpid() || !h.Since.Equal(taken) {
		t.Errorf("b sees the holder as %+v, want %s pid %d since %s", h, host, os.Getpid(), taken)
	}
	if ok, _, err := b.Lease("imap:desk@imap.example.fr:993/Other").TryAcquire(ctx); err != nil || !ok {
		t.Errorf("TryAcquire of another mailbox = %v, %v, want true", ok, err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Errorf("Release of a lease not held: %v", err)
	}
	step(lb, "b", false)
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	step(lb, "b after a's release", true)
	step(la, "a after b took it", false)
}
