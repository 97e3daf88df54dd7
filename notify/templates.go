package notify

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/revocation"
)

// Kind is a mail revokd sends; every kind has a template in each
// language.
type Kind string

// The mails revokd sends.
const (
	// KindAcknowledgement: a request mail was received and recorded,
	// with its reference number and what happens next.
	KindAcknowledgement Kind = "acknowledgement"
	// KindResult: the outcome of each PDF of a request mail, in plain
	// words, with what to do instead when it was refused.
	KindResult Kind = "result"
	// KindNotARequest: a mail with no usable form; how to make a request.
	KindNotARequest Kind = "not_a_request"
	// KindRevocationDone: the CA revoked the certificate (`queue done`).
	KindRevocationDone Kind = "revocation_done"
	// KindDismissed: an operator closed a refused request.
	KindDismissed Kind = "dismissed"
	// KindNewFormAsked: an operator asks the sender for a new form.
	KindNewFormAsked Kind = "new_form"
	// KindOperatorAlert: the digest of what operators must look at.
	KindOperatorAlert Kind = "operator_alert"
)

// Kinds returns every kind of mail.
func Kinds() []Kind {
	return []Kind{KindAcknowledgement, KindResult, KindNotARequest, KindRevocationDone, KindDismissed, KindNewFormAsked,
		KindOperatorAlert}
}

// Languages are the languages of every mail, in the order they appear in
// it: French first, then English.
var Languages = []string{"fr", "en"}

// NotRequestWhy says why a mail is not a request, for the sender.
type NotRequestWhy string

// The reasons a mail is not a request. The worker also stores them as the
// reason code of the mail's not_a_request row (`revokd queue list --all
// --json`), so the values are a contract.
const (
	// WhyNoPDF: a person's mail with no PDF and nothing that might hide
	// one.
	WhyNoPDF NotRequestWhy = "no_pdf"
	// WhyUnreadable: the MIME structure cannot be read (too deep, too
	// many parts, malformed).
	WhyUnreadable NotRequestWhy = "unreadable"
	// WhyOverSize: the mail is over the mailbox's size cap; only its
	// header was read. The answer asks for the form alone, under
	// Message.MaxFormMB.
	WhyOverSize NotRequestWhy = "over_size"
	// WhyEncrypted: encrypted S/MIME the desk has no key for (or that is
	// not addressed to its key); the answer asks to send it unencrypted.
	WhyEncrypted NotRequestWhy = "smime_encrypted"
	// WhySMIMEUnreadable: an S/MIME part that is not a readable PKCS #7
	// structure.
	WhySMIMEUnreadable NotRequestWhy = "smime_unreadable"
	// WhyArchiveUnreadable: a .zip archive that is damaged, encrypted or
	// over a limit, and no PDF beside it.
	WhyArchiveUnreadable NotRequestWhy = "archive_unreadable"
	// WhyWinmail: Outlook sent its attachments inside winmail.dat (TNEF);
	// the answer says how to send the form as a normal attachment.
	WhyWinmail NotRequestWhy = "winmail_dat"
	// WhyAutomatic: an auto-reply, delivery report, bulk mail, or mail
	// without a sender or from the desk itself. Recorded only: such mail
	// is never answered.
	WhyAutomatic NotRequestWhy = "automatic"
)

// Message is what a templated mail is rendered from: the facts the
// outbox row keeps as JSON. Which fields are set depends on Kind.
type Message struct {
	Kind Kind `json:"kind"`
	// ReceivedAt is when the request mail was received (acknowledgement).
	ReceivedAt time.Time `json:"receivedAt,omitzero"`
	// Items are the outcomes of the PDFs, in the order of the mail's
	// requests (result).
	Items []Item `json:"items,omitempty"`
	// Why says why the mail is not a request (not_a_request).
	Why NotRequestWhy `json:"why,omitempty"`
	// MaxFormMB is the size, in MiB, a form mailed alone must stay under
	// (not_a_request for WhyOverSize); 0 when unknown.
	MaxFormMB int64 `json:"maxFormMB,omitempty"`
	// Revocation is what the CA revoked (revocation_done); ToHolder says
	// this copy goes to the holder's registered address rather than to
	// the request's sender.
	Revocation *Revocation `json:"revocation,omitempty"`
	ToHolder   bool        `json:"toHolder,omitempty"`
	// Note is an operator's own words to the sender (dismissed,
	// new_form), shown as written.
	Note string `json:"note,omitempty"`
	// Digest is the operators' alert digest (operator_alert).
	Digest *Digest `json:"digest,omitempty"`
}

// Item is the outcome of one PDF of a request mail.
type Item struct {
	FileName string         `json:"fileName"`
	Code     authorize.Code `json:"code"`
	// Serial is the certificate named by the form, lower-case hex, when
	// known.
	Serial string `json:"serial,omitempty"`
	// Facts are the form fields at fault, without the registry's values,
	// which the sender must never learn from an answer.
	Facts []authorize.Fact `json:"facts,omitempty"`
	// Reference is the request's number, filled in when rendered.
	Reference int64 `json:"-"`
}

// Revocation is what a revocation-done confirmation says.
type Revocation struct {
	JobID    int64             `json:"jobId"`
	Serial   string            `json:"serial"`
	IssuerDN string            `json:"issuerDN"`
	Reason   revocation.Reason `json:"reason"`
	DoneAt   time.Time         `json:"doneAt"`
}

// Digest lists what operators must look at, by rule.
type Digest struct {
	// Review: refused requests waiting for review beyond the delay.
	Review []AlertItem `json:"review,omitempty"`
	// NotExecuted: accepted requests whose revocation is not done that
	// long after the mail was received.
	NotExecuted []AlertItem `json:"notExecuted,omitempty"`
	// FailedJobs: revocation jobs marked failed.
	FailedJobs []AlertItem `json:"failedJobs,omitempty"`
	// FailedMails: notifications that failed for good.
	FailedMails []AlertItem `json:"failedMails,omitempty"`
}

// Len counts the items of d.
func (d *Digest) Len() int {
	if d == nil {
		return 0
	}
	return len(d.Review) + len(d.NotExecuted) + len(d.FailedJobs) + len(d.FailedMails)
}

// AlertItem is one line of an alert digest.
type AlertItem struct {
	Reference int64          `json:"reference"` // the request's number; 0 when none
	ID        int64          `json:"id"`        // the job's or the outbox mail's number, for those rules
	Serial    string         `json:"serial,omitempty"`
	Code      authorize.Code `json:"code,omitempty"`
	Since     time.Time      `json:"since"`
	// Detail is what the executor or the relay said, as they said it.
	Detail string `json:"detail,omitempty"`
	// New marks the items not in an earlier digest.
	New bool `json:"new,omitempty"`
}

// View is what a template is executed with: the Message, its reference
// number and the site's settings, in one language.
type View struct {
	Message
	// Reference is the number of the request the mail is about: the
	// first request of the mail it answers.
	Reference int64
	// Commitment is the site's promise on delays (TextConfig), in the
	// template's language; "" when the site makes none.
	Commitment string
	// FormURL is where the request form can be downloaded; "" when not
	// configured.
	FormURL string
	// Desk is the desk's address, where requests are sent.
	Desk string
	// Now is when the mail is rendered.
	Now time.Time
}

// AnyRefused reports whether a result holds a refusal.
func (v View) AnyRefused() bool {
	for _, it := range v.Items {
		if !it.Code.Accepted() {
			return true
		}
	}
	return false
}

// TextConfig holds the site's words that templates include, per language.
type TextConfig struct {
	// Commitment is the delay the CA commits to, by language ("fr",
	// "en"); nil means DefaultCommitment, an empty map none.
	Commitment map[string]string
	// FormURL is where the request form is published; "" leaves the
	// sentence out.
	FormURL string
	// Desk is the desk's address, where requests are sent.
	Desk string
}

// DefaultCommitment is the 24-hour commitment of ETSI EN 319 411-1
// (REV-6.3.9): a revocation request is processed within 24 hours.
var DefaultCommitment = map[string]string{
	"fr": "Une demande acceptée est exécutée dans les 24 heures qui suivent sa réception ; vous recevrez alors une confirmation de la révocation.",
	"en": "An accepted request is carried out within 24 hours of its receipt; you will then receive a confirmation of the revocation.",
}

//go:embed templates/*.tmpl
var defaultTemplates embed.FS

// templateFiles are the files of the table: for each language, the
// messages (one template per kind) and the codes (the reason and advice
// for each code, the labels of form fields and CRL reasons).
func templateFiles() []string {
	var out []string
	for _, lang := range Languages {
		out = append(out, "messages."+lang+".tmpl", "codes."+lang+".tmpl")
	}
	return out
}

// Templates is the table of every word revokd sends: for each language,
// one text/template set with a template per kind of mail ("KIND" for the
// body, "KIND.subject" for the subject), and per code of
// authorize.AllCodes a "reason/CODE" and an "advice/CODE", a
// "field/FIELD" per form field and a "crl/REASON" per RFC 5280 reason.
type Templates struct {
	sets  map[string]*template.Template
	text  TextConfig
	files map[string]string // file name → where it came from, for messages
}

// LoadTemplates reads the embedded templates, each replaced by the file
// of the same name in dir when dir is not "" and has one, and checks the
// whole table: every kind and code has its templates in every language,
// and every template executes on sample data. Its error names the file
// and the template at fault, so that revokd refuses to start on it.
func LoadTemplates(dir string, text TextConfig) (*Templates, error) {
	if text.Commitment == nil {
		text.Commitment = DefaultCommitment
	}
	t := &Templates{sets: map[string]*template.Template{}, text: text, files: map[string]string{}}
	overrides := map[string]bool{}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("reading the templates folder: %w", err)
		}
		known := templateFiles()
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if !slices.Contains(known, e.Name()) {
				return nil, fmt.Errorf("%s is not a template file of revokd (want one of %s)",
					filepath.Join(dir, e.Name()), strings.Join(known, ", "))
			}
			overrides[e.Name()] = true
		}
	}
	for _, lang := range Languages {
		set := template.New(lang).Option("missingkey=error")
		set.Funcs(templateFuncs(set))
		for _, name := range []string{"messages." + lang + ".tmpl", "codes." + lang + ".tmpl"} {
			var (
				b   []byte
				err error
			)
			where := "embedded " + name
			if overrides[name] {
				where = filepath.Join(dir, name)
				b, err = os.ReadFile(where)
			} else {
				b, err = fs.ReadFile(defaultTemplates, "templates/"+name)
			}
			if err != nil {
				return nil, fmt.Errorf("template %s: %w", where, err)
			}
			if _, err := set.New(name).Parse(string(b)); err != nil {
				return nil, fmt.Errorf("template %s: %w", where, err)
			}
			t.files[name] = where
		}
		t.sets[lang] = set
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}

// DefaultTemplates returns the embedded table. It panics if the embedded
// table fails its own check, which the tests rule out.
func DefaultTemplates() *Templates {
	t, err := LoadTemplates("", TextConfig{})
	if err != nil {
		panic(err)
	}
	return t
}

// DefaultTemplateFile returns the embedded file name, for an operator who
// starts a templates_dir from the defaults (`revokd templates`).
func DefaultTemplateFile(name string) ([]byte, error) {
	return fs.ReadFile(defaultTemplates, "templates/"+name)
}

// TemplateFiles returns the names of the table's files.
func TemplateFiles() []string { return templateFiles() }

// requiredTemplates names every template each language must define.
func requiredTemplates() []string {
	var names []string
	for _, k := range Kinds() {
		names = append(names, string(k), string(k)+".subject")
	}
	for _, c := range renderedCodes() {
		names = append(names, "reason/"+string(c), "advice/"+string(c))
	}
	for _, f := range authorize.Fields() {
		names = append(names, "field/"+string(f))
	}
	for _, r := range revocation.Reasons() {
		names = append(names, "crl/"+r.String())
	}
	return names
}

// renderedCodes are the codes a result can carry: every code of
// authorize, and the store's code for a refusal that came without one.
func renderedCodes() []authorize.Code {
	return append(authorize.AllCodes(), unspecifiedCode)
}

// unspecifiedCode is queue.ReasonCodeUnspecified (notify's templates do
// not import the store for one constant).
const unspecifiedCode authorize.Code = "unspecified"

// templateError names the file of a template at fault.
func (t *Templates) templateError(lang, name string, err error) error {
	file := "messages." + lang + ".tmpl"
	if strings.Contains(name, "/") {
		file = "codes." + lang + ".tmpl"
	}
	return fmt.Errorf("template %q of %s: %w", name, t.files[file], err)
}

// check makes sure every required template exists in every language and
// executes on sample data to a non-empty text.
func (t *Templates) check() error {
	var errs []error
	for _, lang := range Languages {
		set := t.sets[lang]
		for _, name := range requiredTemplates() {
			if set.Lookup(name) == nil {
				errs = append(errs, t.templateError(lang, name, errors.New("missing")))
			}
		}
	}
	if len(errs) > 0 {
		return joinErrors(errs)
	}
	for _, m := range SampleMessages() {
		for _, lang := range Languages {
			subject, body, err := t.renderLang(lang, m, 42, sampleTime)
			switch {
			case err != nil:
				errs = append(errs, err)
			case strings.TrimSpace(subject) == "" || strings.TrimSpace(body) == "":
				errs = append(errs, t.templateError(lang, string(m.Kind), errors.New("renders an empty subject or body on sample data")))
			}
		}
	}
	for _, c := range renderedCodes() {
		for _, lang := range Languages {
			it := sampleItem(c)
			for _, part := range []string{"reason/", "advice/"} {
				s, err := t.exec(lang, part+string(c), it)
				if err == nil && strings.TrimSpace(s) == "" {
					err = t.templateError(lang, part+string(c), errors.New("renders empty on sample data"))
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return joinErrors(errs)
}

// maxTemplateErrors is how many faults a check reports: a file that
// lacks everything should not bury the first faults under a hundred.
const maxTemplateErrors = 8

func joinErrors(errs []error) error {
	if len(errs) > maxTemplateErrors {
		errs = append(errs[:maxTemplateErrors:maxTemplateErrors], fmt.Errorf("and %d more", len(errs)-maxTemplateErrors))
	}
	return errors.Join(errs...)
}

func (t *Templates) exec(lang, name string, data any) (string, error) {
	var b bytes.Buffer
	if err := t.sets[lang].ExecuteTemplate(&b, name, data); err != nil {
		return "", t.templateError(lang, name, err)
	}
	return b.String(), nil
}

// Rendered is a mail ready to be sent.
type Rendered struct {
	Subject string
	Body    string // French, a separator, English
}

// languageSeparator is the line between the French and the English text.
const languageSeparator = "\n------------------------------------------------------------------------\n\n"

// Render builds the subject and body of a mail about request reference
// (0 when none) from m, French then English, at now. Item references are
// taken from requests, in order, when there are as many.
func (t *Templates) Render(m Message, reference int64, requests []int64, now time.Time) (Rendered, error) {
	if len(requests) == len(m.Items) {
		m.Items = slices.Clone(m.Items)
		for i := range m.Items {
			m.Items[i].Reference = requests[i]
		}
	}
	var subjects, bodies []string
	for _, lang := range Languages {
		s, b, err := t.renderLang(lang, m, reference, now)
		if err != nil {
			return Rendered{}, err
		}
		subjects, bodies = append(subjects, s), append(bodies, strings.TrimRight(b, "\n")+"\n")
	}
	subject := strings.Join(uniq(subjects), " / ")
	switch {
	case reference != 0:
		subject += fmt.Sprintf(" [réf. %d]", reference)
	case m.Digest != nil:
		subject += fmt.Sprintf(" [%d]", m.Digest.Len())
	}
	return Rendered{Subject: subject, Body: strings.Join(bodies, languageSeparator)}, nil
}

func (t *Templates) renderLang(lang string, m Message, reference int64, now time.Time) (string, string, error) {
	if !slices.Contains(Kinds(), m.Kind) {
		return "", "", fmt.Errorf("no template for mails of kind %q", m.Kind)
	}
	v := View{Message: m, Reference: reference, Commitment: t.text.Commitment[lang], FormURL: t.text.FormURL, Now: now,
		Desk: t.text.Desk}
	subject, err := t.exec(lang, string(m.Kind)+".subject", v)
	if err != nil {
		return "", "", err
	}
	body, err := t.exec(lang, string(m.Kind), v)
	if err != nil {
		return "", "", err
	}
	return strings.Join(strings.Fields(subject), " "), body, nil
}

func uniq(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Europe/Paris is where the CA and its holders are; mails give times
// there and in UTC.
var paris = func() *time.Location {
	l, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		// No zone database: UTC with a name that says so, rather than a
		// wrong "Paris" time.
		return time.FixedZone("UTC", 0)
	}
	return l
}()

// templateFuncs are the functions every template may call. reason,
// advice, label and crl execute the per-code templates of the same
// language set.
func templateFuncs(set *template.Template) template.FuncMap {
	sub := func(prefix string, key string, data any) (string, error) {
		var b bytes.Buffer
		if set.Lookup(prefix+key) == nil {
			return "", fmt.Errorf("no template %q", prefix+key)
		}
		if err := set.ExecuteTemplate(&b, prefix+key, data); err != nil {
			return "", err
		}
		return strings.TrimSpace(b.String()), nil
	}
	return template.FuncMap{
		// paris and utc format an instant for people in France, and
		// in UTC.
		"paris": func(t time.Time) string { return t.In(paris).Format("02/01/2006 15:04") },
		"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"reason": func(it Item) (string, error) {
			return sub("reason/", string(codeOrUnspecified(it.Code)), it)
		},
		"advice": func(it Item) (string, error) {
			return sub("advice/", string(codeOrUnspecified(it.Code)), it)
		},
		"label": func(f authorize.Field) (string, error) { return sub("field/", string(f), nil) },
		"crl":   func(r revocation.Reason) (string, error) { return sub("crl/", r.String(), nil) },
		// labels names the fields of facts, joined by commas.
		"labels": func(facts []authorize.Fact) (string, error) {
			var out []string
			for _, f := range facts {
				l, err := sub("field/", string(f.Field), nil)
				if err != nil {
					return "", err
				}
				if !slices.Contains(out, l) {
					out = append(out, l)
				}
			}
			return strings.Join(out, ", "), nil
		},
	}
}

// codeOrUnspecified maps a code with no template (one stored by an older
// or newer revokd) to the generic refusal, so that a mail is still sent.
func codeOrUnspecified(c authorize.Code) authorize.Code {
	if slices.Contains(renderedCodes(), c) {
		return c
	}
	return unspecifiedCode
}

// sampleTime is the instant of the sample data: a summer time in Paris.
var sampleTime = time.Date(2026, 7, 14, 8, 30, 0, 0, time.UTC)

func sampleItem(c authorize.Code) Item {
	it := Item{FileName: "demande.pdf", Code: c, Serial: "1a2b3c", Reference: 42}
	switch c {
	case authorize.CodeMissingField:
		it.Facts = []authorize.Fact{{Field: authorize.FieldHolderEmail, FormField: "titulaire_email"}}
	case authorize.CodeFormMismatch:
		it.Facts = []authorize.Fact{{Field: authorize.FieldHolderSurname, FormField: "titulaire_nom", Value: "Dupond"},
			{Field: authorize.FieldSIREN, FormField: "entreprise_siren", Value: "552081318"}}
	case authorize.CodeInvalidField, authorize.CodeUnknownSerial, authorize.CodeForeignCA, authorize.CodeAmbiguousSerial:
		it.Facts = []authorize.Fact{{Field: authorize.FieldSerial, FormField: "certificat_numero_serie", Value: "1A2B3C"}}
	case authorize.CodeUnknownReason:
		it.Facts = []authorize.Fact{{Field: authorize.FieldReason, FormField: "raison", Value: "Je n’en veux plus"}}
	case authorize.CodeRoleMismatch:
		it.Facts = []authorize.Fact{{Field: authorize.FieldRole, FormField: "demandeur_qualite", Value: "Titulaire"}}
	}
	return it
}

// SampleMessages returns one message of every kind, a result holding
// every code, with the facts each code comes with: what the start-up
// check executes every template on, and what the tests look at.
func SampleMessages() []Message {
	var items []Item
	for _, c := range renderedCodes() {
		items = append(items, sampleItem(c))
	}
	rev := &Revocation{JobID: 7, Serial: "1a2b3c", IssuerDN: "CN=AC Exemple,O=Exemple,C=FR", Reason: revocation.KeyCompromise,
		DoneAt: sampleTime}
	alert := AlertItem{Reference: 42, ID: 7, Serial: "1a2b3c", Code: authorize.CodeHolderMismatch, Since: sampleTime.Add(-13 * time.Hour),
		Detail: "ca-revoke: connection refused", New: true}
	return []Message{
		{Kind: KindAcknowledgement, ReceivedAt: sampleTime},
		{Kind: KindResult, Items: items},
		{Kind: KindNotARequest, Why: WhyNoPDF},
		{Kind: KindNotARequest, Why: WhyOverSize},
		{Kind: KindNotARequest, Why: WhyUnreadable},
		{Kind: KindNotARequest, Why: WhyOverSize, MaxFormMB: 24},
		{Kind: KindNotARequest, Why: WhyEncrypted},
		{Kind: KindNotARequest, Why: WhySMIMEUnreadable},
		{Kind: KindNotARequest, Why: WhyArchiveUnreadable},
		{Kind: KindNotARequest, Why: WhyWinmail},
		{Kind: KindRevocationDone, Revocation: rev},
		{Kind: KindRevocationDone, Revocation: rev, ToHolder: true},
		{Kind: KindDismissed, Note: "demande en double"},
		{Kind: KindDismissed},
		{Kind: KindNewFormAsked, Note: "le SIREN est illisible"},
		{Kind: KindNewFormAsked},
		{Kind: KindOperatorAlert, Digest: &Digest{Review: []AlertItem{alert}, NotExecuted: []AlertItem{alert},
			FailedJobs: []AlertItem{alert}, FailedMails: []AlertItem{alert}}},
	}
}

// DecodeMessage reads the JSON an outbox row keeps.
func DecodeMessage(data string) (Message, error) {
	var m Message
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return m, fmt.Errorf("reading the mail's data: %w", err)
	}
	return m, nil
}
