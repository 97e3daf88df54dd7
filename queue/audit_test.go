package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// auditedStore returns a store with a few audit rows: two mails handled,
// a job claimed and done.
func auditedStore(t *testing.T) *Store {
	t.Helper()
	s := openClocked(t, t.TempDir(), newTestClock())
	record(t, s, 1, DispositionProcessed, acceptedReq("0a1b", "pdf1", "form1"))
	record(t, s, 2, DispositionRejected, rejectedReq("holder_mismatch", "pdf2"))
	j := claim(t, s, time.Minute)
	if _, err := s.CompleteJob(context.Background(), j.ID, ActorExecutor); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyAudit(t *testing.T) {
	ctx := context.Background()
	s := auditedStore(t)
	n := int64(count(t, s, "audit"))
	head, err := s.VerifyAudit(ctx)
	if err != nil || head.Rows != n || head.Seq != n || len(head.Hash) != 64 {
		t.Fatalf("VerifyAudit = %+v, %v, want %d rows", head, err, n)
	}

	empty := openClocked(t, t.TempDir(), newTestClock())
	if head, err := empty.VerifyAudit(ctx); err != nil || head.Rows != 0 || head.Hash != GenesisHash {
		t.Errorf("VerifyAudit of an empty log = %+v, %v, want the genesis hash", head, err)
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	s := auditedStore(t)
	for _, q := range []string{`UPDATE audit SET actor = 'mallory' WHERE seq = 2`, `DELETE FROM audit WHERE seq = 2`} {
		if _, err := s.db.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", q, err)
		}
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	tests := []struct {
		name       string
		tamper     []string
		wantSeq    int64
		wantReason string
	}{
		{"fail/details-changed", []string{`UPDATE audit SET details = replace(details, 'a1b', 'a1c') WHERE seq = 3`}, 3, "does not match its hash"},
		{"fail/actor-changed", []string{`UPDATE audit SET actor = 'operator' WHERE seq = 2`}, 2, "does not match its hash"},
		{"fail/row-removed", []string{`DELETE FROM audit WHERE seq = 4`}, 5, "rows are missing"},
		{"fail/row-rehashed-alone", []string{
			`UPDATE audit SET details = '{}' WHERE seq = 3`,
			// The forger recomputes row 3's hash but cannot fix row 4's
			// prev_hash without rewriting everything after it.
			`UPDATE audit SET hash = 'ff' WHERE seq = 3`,
		}, 3, "does not match its hash"},
		{"fail/prev-hash-changed", []string{`UPDATE audit SET prev_hash = hash WHERE seq = 6`}, 6, "prev_hash is not the previous row's hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := auditedStore(t)
			// Whoever can write the file can drop the triggers too.
			drop := []string{`DROP TRIGGER audit_no_update`, `DROP TRIGGER audit_no_delete`}
			if s.Backend() == "postgres" {
				drop = []string{`DROP TRIGGER audit_no_update ON audit`, `DROP TRIGGER audit_no_delete ON audit`}
			}
			for _, q := range append(drop, tt.tamper...) {
				if _, err := s.db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			_, err := s.VerifyAudit(context.Background())
			var ae *AuditError
			if !errors.As(err, &ae) || ae.Seq != tt.wantSeq || !strings.Contains(ae.Reason, tt.wantReason) {
				t.Errorf("VerifyAudit = %v, want an AuditError at seq %d: %s", err, tt.wantSeq, tt.wantReason)
			}
		})
	}
}

// TestAuditHashIsNetstrings pins the hash so that other tools can
// recompute the chain from its documented definition.
func TestAuditHashIsNetstrings(t *testing.T) {
	got := auditHash(GenesisHash, 1, "2026-03-02T09:00:00.000000000Z", "worker", "mail.received", "mail:1", `{"a":1}`)
	want := sha256Hex([]byte(GenesisHash + "1:1,30:2026-03-02T09:00:00.000000000Z,6:worker,13:mail.received,6:mail:1,7:{\"a\":1},"))
	if got != want {
		t.Errorf("auditHash = %s, want %s", got, want)
	}
}
