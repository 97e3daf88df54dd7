package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/internal/mailtest"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/revocation"
)

// pdfOf returns the PDF attached to a scenario mail.
func pdfOf(t *testing.T, raw []byte) []byte {
	t.Helper()
	msg, err := ingest.ParseMessage(bytes.NewReader(raw), ingest.Limits{})
	if err != nil || len(msg.Attachments) != 1 {
		t.Fatalf("scenario mail: %v, %d attachments", err, len(msg.Attachments))
	}
	return msg.Attachments[0].Data
}

func tamperSMIME(t *testing.T, entity []byte) []byte {
	tampered, _ := mailtest.TamperSMIME(t, entity)
	return tampered
}

// An S/MIME signature is evidence, never the decision: a valid one does
// not rescue a forged form, a broken one does not refuse a good form, and
// an encrypted mail the desk cannot open gets its own answer.
func TestSMIMEIsEvidenceOnly(t *testing.T) {
	s := getScenario(t)
	dir := t.TempDir()
	signer, err := mailtest.NewIdentity(dir, "Hélène Dupont", "helene.dupont@example.fr")
	if err != nil {
		t.Fatal(err)
	}
	desk, err := mailtest.NewIdentity(dir, "Revocation desk", "revocation@ca.example")
	if err != nil {
		t.Fatal(err)
	}
	good := mailtest.Entity("application/pdf", "demande.pdf", pdfOf(t, s.Mails[0].Raw))
	forged := mailtest.Entity("application/pdf", "demande.pdf", pdfOf(t, s.Mails[2].Raw))
	from := "helene.dupont@example.fr"
	tests := []struct {
		name      string
		entity    []byte
		wantState revocation.State
		wantCode  string
		wantValid *bool // the S/MIME signature's validity in the evidence; nil: no signed layer
	}{
		{"ok/good-form-valid-smime", mailtest.SMIMESign(t, signer, good, true, false), revocation.StateQueued, "", ptr(true)},
		{"ok/good-form-broken-smime", tamperSMIME(t, mailtest.SMIMESign(t, signer, good, true, false)), revocation.StateQueued, "", ptr(false)},
		{"fail/forged-form-valid-smime", mailtest.SMIMESign(t, signer, forged, true, false), revocation.StateRejected, "modified_after_signing", ptr(true)},
		{"fail/encrypted-no-key", mailtest.SMIMEEncrypt(t, desk, good), revocation.StateNotARequest, string(notify.WhyEncrypted), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			w := newWorker(t, st, st)
			raw := mailtest.Mail(from, "Révocation", "smime@example.fr", tt.entity)
			if _, err := w.Handle(context.Background(), mail(1, raw)); err != nil {
				t.Fatal(err)
			}
			rows := requestsOf(t, st)
			if len(rows) != 1 || rows[0].State != tt.wantState || string(rows[0].ReasonCode) != tt.wantCode {
				t.Fatalf("requests %+v, want one %s %q", rows, tt.wantState, tt.wantCode)
			}
			d, err := st.Request(context.Background(), rows[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			var ev ingest.Evidence
			if err := json.Unmarshal(d.Mail.Evidence, &ev); err != nil {
				t.Fatalf("evidence %s: %v", d.Mail.Evidence, err)
			}
			switch {
			case tt.wantValid == nil && tt.wantState == revocation.StateNotARequest:
				if len(ev.Unopened) != 1 || ev.Unopened[0].Kind != ingest.UnopenedEncrypted {
					t.Errorf("evidence %s, want the encrypted part unopened", d.Mail.Evidence)
				}
				row, err := st.ClaimOutbox(context.Background(), time.Minute)
				if err != nil || row == nil || row.To != from || row.Kind != string(notify.KindNotARequest) ||
					!strings.Contains(string(row.Data), `"why":"smime_encrypted"`) {
					t.Errorf("answer %+v (%v), want one to %s asking to send it unencrypted", row, err, from)
				}
			case tt.wantValid != nil:
				if len(ev.SMIME) != 1 || ev.SMIME[0].SignatureValid != *tt.wantValid || ev.SMIME[0].Signer == nil {
					t.Errorf("evidence %s, want one signed layer valid=%v with its signer", d.Mail.Evidence, *tt.wantValid)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
