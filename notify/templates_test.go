package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
)

// decoded is a built mail read back as a mail client would.
type decoded struct {
	subject, body string
	header        gomail.Header
}

func readBack(t *testing.T, data []byte) decoded {
	t.Helper()
	mr, err := gomail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading the built mail: %v", err)
	}
	subject, err := mr.Header.Subject()
	if err != nil {
		t.Fatalf("decoding the subject: %v", err)
	}
	p, err := mr.NextPart()
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	b, err := io.ReadAll(p.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return decoded{subject: subject, body: strings.ReplaceAll(string(b), "\r\n", "\n"), header: mr.Header}
}

// composeRow builds the mail of an outbox row as the sender would.
func composeRow(t *testing.T, r *sender, m queue.OutboxMessage, requestIDs []int64) decoded {
	t.Helper()
	row := &queue.OutboxRow{ID: 9, MailID: 3, RequestID: requestIDs[0], RequestIDs: requestIDs, Kind: m.Kind, To: m.To,
		Data: string(m.Data), CreatedAt: sampleTime, OriginalMessageID: "<req-1@example.fr>"}
	msg, err := r.compose(row)
	if err != nil {
		t.Fatalf("compose(%s): %v", m.Kind, err)
	}
	return readBack(t, msg.data)
}

func testSender(t *testing.T) *sender {
	t.Helper()
	r, err := (&Sender{Store: nopStore{}, Address: "127.0.0.1:25", Security: SecurityNone, From: deskAddress,
		Now: func() time.Time { return sampleTime }}).resolve()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every code a request can end with gets a result mail that reads back
// with its reference in the subject, French then English, and in each
// language the code's own reason and advice.
func TestResultMailPerCode(t *testing.T) {
	r := testSender(t)
	for _, code := range renderedCodes() {
		t.Run(string(code), func(t *testing.T) {
			it := sampleItem(code)
			it.Reference = 0
			d := composeRow(t, r, Result(holder, []Item{it}), []int64{57})
			if !strings.HasSuffix(d.subject, "[réf. 57]") {
				t.Errorf("subject %q lacks the reference [réf. 57]", d.subject)
			}
			fr, en, ok := strings.Cut(d.body, strings.TrimSpace(languageSeparator))
			if !ok || !strings.HasPrefix(fr, "Bonjour") || !strings.Contains(en, "Hello") {
				t.Fatalf("body is not French then English:\n%s", d.body)
			}
			it.Reference = 57
			for lang, text := range map[string]string{"fr": fr, "en": en} {
				for _, part := range []string{"reason/", "advice/"} {
					want, err := r.templates.exec(lang, part+string(code), it)
					if err != nil {
						t.Fatal(err)
					}
					if want = strings.TrimSpace(want); want == "" || !strings.Contains(text, want) {
						t.Errorf("%s part lacks %s%s %q:\n%s", lang, part, code, want, text)
					}
				}
				if !strings.Contains(text, "57") {
					t.Errorf("%s part does not name reference 57:\n%s", lang, text)
				}
			}
			if code.Accepted() == strings.Contains(fr, "Un opérateur de notre autorité examine aussi") {
				t.Errorf("accepted %v, but the review sentence is there: %v", code.Accepted(), !code.Accepted())
			}
		})
	}
}

// The table covers every code authorize can decide and every
// sub-indication pdfverify can give: adding one without its words fails
// here (and revokd refuses to start).
func TestEveryCodeHasItsTemplates(t *testing.T) {
	tpl := DefaultTemplates()
	var codes []authorize.Code
	codes = append(codes, authorize.DecisionCodes()...)
	for _, s := range pdfverify.SubIndications() {
		codes = append(codes, authorize.VerificationCode(s))
	}
	for _, c := range codes {
		for _, lang := range Languages {
			for _, part := range []string{"reason/", "advice/"} {
				if tpl.sets[lang].Lookup(part+string(c)) == nil {
					t.Errorf("no %s template %s%s", lang, part, c)
				}
			}
		}
	}
	for _, k := range Kinds() {
		for _, lang := range Languages {
			if tpl.sets[lang].Lookup(string(k)) == nil || tpl.sets[lang].Lookup(string(k)+".subject") == nil {
				t.Errorf("no %s template for kind %s", lang, k)
			}
		}
	}
}

// Every kind of mail builds, reads back, and says what it must.
func TestMailPerKind(t *testing.T) {
	r := testSender(t)
	rev := Revocation{JobID: 7, Serial: "1a2b3c", IssuerDN: "CN=AC Exemple,O=Exemple,C=FR", Reason: 1,
		DoneAt: time.Date(2026, 1, 15, 23, 30, 0, 0, time.UTC)}
	req := queue.RequestSummary{ID: 57, MailID: 3, Sender: holder}
	tests := []struct {
		name string
		msg  queue.OutboxMessage
		want []string
	}{
		{"ok/acknowledgement", Acknowledgement(holder, sampleTime), []string{"référence 57", "reference is 57",
			"14/07/2026 10:30 (heure de Paris)", "2026-07-14 08:30 UTC", "24 heures", "24 hours"}},
		{"ok/not-a-request", NotARequest(holder, WhyNoPDF), []string{"aucun formulaire PDF", "no PDF form",
			"représentant légal", "legal representative", "RGS **", deskAddress, "une fois par jour", "once a day"}},
		{"ok/not-a-request-over-size", NotARequest(holder, WhyOverSize), []string{"taille maximale", "maximum size"}},
		{"ok/revocation-done", revocationDone(holder, rev, false), []string{"1a2b3c", "CN=AC Exemple,O=Exemple,C=FR",
			"16/01/2026 00:30 (heure de Paris)", "2026-01-15 23:30 UTC", "compromission de la clé privée", "key compromise", "57"}},
		{"ok/revocation-done-to-holder", revocationDone(holder, rev, true), []string{"celle du titulaire", "holder's"}},
		{"ok/dismissed", Dismissed(req, "doublon"), []string{"classée sans suite", "closed", "doublon"}},
		{"ok/new-form", NewFormAsked(req, "SIREN illisible"), []string{"nouveau formulaire", "new form", "SIREN illisible"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := composeRow(t, r, tt.msg, []int64{57})
			if !strings.Contains(d.subject, "[réf. 57]") {
				t.Errorf("subject %q lacks [réf. 57]", d.subject)
			}
			for _, w := range tt.want {
				if !strings.Contains(d.body, w) {
					t.Errorf("body lacks %q:\n%s", w, d.body)
				}
			}
			if v, _ := d.header.Text("Auto-Submitted"); v != "auto-replied" {
				t.Errorf("Auto-Submitted = %q", v)
			}
		})
	}
}

func revocationDone(to string, rev Revocation, toHolder bool) queue.OutboxMessage {
	return outboxMessage(to, Message{Kind: KindRevocationDone, Revocation: &rev, ToHolder: toHolder})
}

// The registry's values in a decision's facts never reach the sender.
func TestResultKeepsRegistryValuesFromTheSender(t *testing.T) {
	d := &authorize.Decision{Code: authorize.CodeFormMismatch, Facts: []authorize.Fact{{Field: authorize.FieldHolderEmail,
		FormField: "titulaire_email", Value: "typed@example.fr", Registry: "secret.registry@example.fr"}}}
	m := Result(holder, []Item{ResultItem("demande.pdf", d.Code, "1a2b", d)})
	if bytes.Contains(m.Data, []byte("secret.registry")) {
		t.Fatalf("outbox data holds the registry's value: %s", m.Data)
	}
	body := composeRow(t, testSender(t), m, []int64{1}).body
	if strings.Contains(body, "secret.registry") || !strings.Contains(body, "adresse électronique du titulaire") {
		t.Errorf("body:\n%s", body)
	}
}

func writeTemplates(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func defaultFile(t *testing.T, name string) string {
	t.Helper()
	b, err := DefaultTemplateFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An operator's templates replace the embedded ones file by file; a
// table that lacks a template, does not parse or does not execute on
// sample data is refused, naming the file and the template.
func TestLoadTemplatesFromDir(t *testing.T) {
	codesFR := defaultFile(t, "codes.fr.tmpl")
	messagesEN := defaultFile(t, "messages.en.tmpl")
	tests := []struct {
		name    string
		files   map[string]string
		wantErr []string // all in the error; none: loads
	}{
		{name: "ok/empty-dir", files: map[string]string{}},
		{name: "ok/edited-advice", files: map[string]string{"codes.fr.tmpl": strings.Replace(codesFR,
			`{{define "advice/hash_failure"}}{{template "common/unmodified"}}{{end}}`,
			`{{define "advice/hash_failure"}}Appelez le 01 23 45 67 89.{{end}}`, 1)}},
		{name: "fail/missing-advice", files: map[string]string{"codes.fr.tmpl": strings.Replace(codesFR,
			`{{define "advice/hash_failure"}}`, `{{define "advice/hash_failure_typo"}}`, 1)},
			wantErr: []string{`"advice/hash_failure"`, "codes.fr.tmpl", "missing"}},
		{name: "fail/does-not-parse", files: map[string]string{"messages.en.tmpl": messagesEN + "{{if}}"},
			wantErr: []string{"messages.en.tmpl"}},
		{name: "fail/unknown-field", files: map[string]string{"messages.en.tmpl": strings.Replace(messagesEN,
			"Its reference is {{.Reference}}", "Its reference is {{.Referance}}", 1)},
			wantErr: []string{`"acknowledgement"`, "messages.en.tmpl", "Referance"}},
		{name: "fail/empty-advice", files: map[string]string{"codes.fr.tmpl": strings.Replace(codesFR,
			`{{define "advice/revoked"}}`, `{{define "advice/revoked"}} {{end}}{{define "unused"}}`, 1)},
			wantErr: []string{`"advice/revoked"`}},
		{name: "fail/unknown-file", files: map[string]string{"codes.de.tmpl": "x"}, wantErr: []string{"codes.de.tmpl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTemplates(t, tt.files)
			tpl, err := LoadTemplates(dir, TextConfig{})
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("LoadTemplates: %v", err)
				}
				if _, ok := tt.files["codes.fr.tmpl"]; ok {
					s, _ := tpl.exec("fr", "advice/hash_failure", sampleItem(authorize.CodeHashFailure))
					if s != "Appelez le 01 23 45 67 89." {
						t.Errorf("edited advice = %q", s)
					}
				}
				return
			}
			if err == nil {
				t.Fatal("LoadTemplates accepted a broken table")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadTemplates error %q lacks %q", err, w)
				}
			}
		})
	}
}

// The commitment sentence is the site's: its own words, or none.
func TestCommitmentText(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  map[string]string
		want string
		not  string
	}{
		{"ok/default", nil, "24 heures", ""},
		{"ok/site-words", map[string]string{"fr": "Sous 4 heures ouvrées.", "en": "Within 4 working hours."}, "Sous 4 heures ouvrées.", "24 heures"},
		{"ok/none", map[string]string{}, "", "24 heures"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := LoadTemplates("", TextConfig{Commitment: tc.cfg})
			if err != nil {
				t.Fatal(err)
			}
			out, err := tpl.Render(Message{Kind: KindAcknowledgement, ReceivedAt: sampleTime}, 1, nil, sampleTime)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && !strings.Contains(out.Body, tc.want) || tc.not != "" && strings.Contains(out.Body, tc.not) {
				t.Errorf("body:\n%s", out.Body)
			}
		})
	}
}

// The outbox data is plain JSON that DecodeMessage reads back.
func TestMessageRoundTrip(t *testing.T) {
	for _, m := range SampleMessages() {
		b, _ := json.Marshal(m)
		got, err := DecodeMessage(string(b))
		if err != nil || got.Kind != m.Kind || len(got.Items) != len(m.Items) {
			t.Errorf("DecodeMessage(%s) = %+v, %v", b, got, err)
		}
	}
}

// The store writes the confirmations and the digests' kinds itself: they
// are the template table's kinds.
func TestStoreKindsAreTemplateKinds(t *testing.T) {
	if queue.KindRevocationDone != string(KindRevocationDone) || queue.KindOperatorAlert != string(KindOperatorAlert) {
		t.Errorf("queue kinds %q, %q; notify kinds %q, %q", queue.KindRevocationDone, queue.KindOperatorAlert,
			KindRevocationDone, KindOperatorAlert)
	}
}
