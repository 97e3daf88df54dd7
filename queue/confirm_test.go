package queue

import (
	"context"
	"encoding/json"
	"math/big"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/revokd/revokd/authorize"
)

// confirmations lists the revocation-done rows of the outbox as
// "recipient holder?" strings, sorted.
func confirmations(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.db.Query(`SELECT recipient, data, request_id FROM outbox WHERE kind = 'revocation_done'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			to, data string
			req      int64
		)
		if err := rows.Scan(&to, &data, &req); err != nil {
			t.Fatal(err)
		}
		var d revocationDone
		if err := json.Unmarshal([]byte(data), &d); err != nil {
			t.Fatalf("confirmation data %s: %v", data, err)
		}
		if d.Kind != KindRevocationDone || d.Revocation.Serial != "a1b" || d.Revocation.IssuerDN != "CN=Our CA" || d.Revocation.DoneAt.IsZero() || req == 0 {
			t.Errorf("confirmation to %s: data %s, request %d", to, data, req)
		}
		who := to + " sender"
		if d.ToHolder {
			who = to + " holder"
		}
		out = append(out, who)
	}
	sort.Strings(out)
	return out
}

// `queue done` queues the confirmation of the revocation in its own
// transaction: once to each sender who was answered, once to the holder's
// registered address when it is another, and never again.
func TestCompleteJobQueuesConfirmations(t *testing.T) {
	tests := []struct {
		name        string
		holderEmail string // "" : the certificate is not in the registry
		mails       []bool // per request mail for a1b: was it answered (an acknowledgement queued)
		want        []string
	}{
		{"ok/sender-is-the-holder", "Holder@Example.fr", []bool{true}, []string{"holder@example.fr sender"}},
		{"ok/holder-elsewhere", "alice@acme.fr", []bool{true}, []string{"alice@acme.fr holder", "holder@example.fr sender"}},
		{"ok/same-sender-twice", "alice@acme.fr", []bool{true, true}, []string{"alice@acme.fr holder", "holder@example.fr sender"}},
		{"ok/automatic-mail-not-answered", "alice@acme.fr", []bool{false}, []string{"alice@acme.fr holder"}},
		{"ok/holder-not-in-registry", "", []bool{true}, []string{"holder@example.fr sender"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := openClocked(t, t.TempDir(), newTestClock())
			if tt.holderEmail != "" {
				if _, err := s.UpsertCertificate(ctx, authorize.Certificate{Serial: big.NewInt(0xa1b), IssuerDN: "CN=Our CA",
					SHA256: "aa", Email: tt.holderEmail}); err != nil {
					t.Fatal(err)
				}
			}
			for i, answered := range tt.mails {
				id := archive(t, s, uint32(i+1))
				o := Outcome{MailID: id, Disposition: DispositionProcessed,
					Requests: []RequestOutcome{acceptedReq("a1b", "pdf"+string(rune('a'+i)), "form")}}
				if answered {
					o.Outbox = ack("holder@example.fr")
				}
				if err := s.RecordOutcome(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			j, err := s.ClaimJob(ctx, time.Minute, "executor")
			if err != nil || j == nil {
				t.Fatalf("ClaimJob = %v, %v", j, err)
			}
			if done, err := s.CompleteJob(ctx, j.ID, "executor"); err != nil || done {
				t.Fatalf("CompleteJob = %v, %v", done, err)
			}
			if diff := cmp.Diff(tt.want, confirmations(t, s)); diff != "" {
				t.Errorf("confirmations (-want +got):\n%s", diff)
			}
			if done, err := s.CompleteJob(ctx, j.ID, "executor"); err != nil || !done {
				t.Fatalf("second CompleteJob = %v, %v; want already done", done, err)
			}
			if got := confirmations(t, s); len(got) != len(tt.want) {
				t.Errorf("after a second done: %d confirmations, want %d", len(got), len(tt.want))
			}
		})
	}
}
