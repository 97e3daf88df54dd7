package review

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/pdfverify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// Deadline is the time the CA has from the receipt of a revocation request
// to the publication of the new status (ETSI EN 319 411-1 REV-6.2.4-03A).
const Deadline = 24 * time.Hour

// warnAfter is when a waiting request starts to stand out.
const warnAfter = 12 * time.Hour

// page is what every template gets.
type page struct {
	Title string
	User  user
	Error string
	Done  string
	Now   time.Time
	Clock *queue.ReviewClock
	Data  any
}

// doneMessages are the confirmations after an action, by the action's
// name in the query (nothing else of the query is shown).
var doneMessages = map[string]string{
	"dismiss":  "Request dismissed; the sender will be told.",
	"ask":      "New form asked for; the sender will be told what to fix.",
	"override": "Override proposed: it waits for a different operator with the approver role.",
	"approve":  "Override approved: the request is overridden and its revocation queued.",
	"reject":   "Override rejected: the request stays refused.",
	"reverify": "Re-verified on the stored evidence, at the original validation time.",
	"retry":    "Job queued again.",
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	p.Now = s.cfg.Now()
	if u, ok := r.Context().Value(ctxKey{}).(user); ok {
		p.User = u
		if c, err := s.svc.Store.Clock(r.Context()); err == nil {
			p.Clock = &c
		}
	}
	if p.Done == "" {
		p.Done = doneMessages[r.URL.Query().Get("done")]
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.serverError(w, r, fmt.Errorf("rendering %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// clockOf is a request's place on the 24-hour clock.
type clockOf struct {
	Age      string
	Left     string
	Overdue  bool
	Late     bool // past warnAfter
	Deadline time.Time
}

func clockAt(received, now time.Time) clockOf {
	age := now.Sub(received)
	c := clockOf{Age: span(age), Deadline: received.Add(Deadline)}
	left := Deadline - age
	switch {
	case left <= 0:
		c.Overdue, c.Late = true, true
		c.Left = "overdue by " + span(-left)
	default:
		c.Late = age >= warnAfter
		c.Left = span(left) + " left"
	}
	return c
}

// span writes a duration as an operator reads it: "3 h 05 min", "12 min".
func span(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h >= 48:
		return fmt.Sprintf("%d d %d h", h/24, h%24)
	case h > 0:
		return fmt.Sprintf("%d h %02d min", h, m)
	}
	return fmt.Sprintf("%d min", m)
}

type queueRow struct {
	queue.ReviewItem
	Clock clockOf
	Desc  string
}

type codeCount struct {
	Code  authorize.Code
	Count int
	Desc  string
}

type queueData struct {
	Rows   []queueRow
	Counts []codeCount
	Total  int
	Filter struct{ Code, Sender, SIREN, Serial, From, To string }
	Codes  []authorize.Code
}

func (s *Server) queuePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	var d queueData
	d.Filter.Code, d.Filter.Sender, d.Filter.SIREN = q.Get("code"), strings.TrimSpace(q.Get("sender")), strings.TrimSpace(q.Get("siren"))
	d.Filter.Serial, d.Filter.From, d.Filter.To = strings.TrimSpace(q.Get("serial")), q.Get("from"), q.Get("to")
	f := queue.ReviewFilter{Code: authorize.Code(d.Filter.Code), Sender: d.Filter.Sender, SIREN: d.Filter.SIREN}
	var bad []string
	if d.Filter.Serial != "" {
		if n := formSerial(d.Filter.Serial); n != nil {
			f.Serial = authorize.FormatSerial(n)
		} else {
			bad = append(bad, "the serial is not hexadecimal")
		}
	}
	day := func(v, what string, end bool) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			bad = append(bad, what+" is not a date (YYYY-MM-DD)")
			return time.Time{}
		}
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t
	}
	f.From, f.To = day(d.Filter.From, "from", false), day(d.Filter.To, "to", true)
	all, err := s.svc.Queue(ctx, queue.ReviewFilter{})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	counts := map[authorize.Code]int{}
	for _, it := range all {
		counts[it.ReasonCode]++
	}
	for code, n := range counts {
		d.Counts = append(d.Counts, codeCount{Code: code, Count: n, Desc: Describe(code)})
		d.Codes = append(d.Codes, code)
	}
	sort.Slice(d.Counts, func(i, j int) bool {
		if d.Counts[i].Count != d.Counts[j].Count {
			return d.Counts[i].Count > d.Counts[j].Count
		}
		return d.Counts[i].Code < d.Counts[j].Code
	})
	sort.Slice(d.Codes, func(i, j int) bool { return d.Codes[i] < d.Codes[j] })
	d.Total = len(all)
	items := all
	if f != (queue.ReviewFilter{}) {
		if items, err = s.svc.Queue(ctx, f); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	now := s.cfg.Now()
	for _, it := range items {
		d.Rows = append(d.Rows, queueRow{ReviewItem: it, Clock: clockAt(it.ReceivedAt, now), Desc: Describe(it.ReasonCode)})
	}
	p := &page{Title: "Review queue", Data: &d}
	if len(bad) > 0 {
		p.Error = "Filter ignored: " + strings.Join(bad, "; ") + "."
	}
	s.render(w, r, http.StatusOK, "queue", p)
}

// headerLine is one header of the request's mail, as shown.
type headerLine struct{ Name, Value string }

// shownHeaders are the mail's headers an operator looks at.
var shownHeaders = []string{"From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-Id", "Auto-Submitted", "Return-Path"}

// maxHeaderBytes bounds the header read from the stored mail.
const maxHeaderBytes = 256 << 10

var headerDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

func mailHeaders(raw []byte) []headerLine {
	if len(raw) == 0 {
		return nil
	}
	msg, err := mail.ReadMessage(io.LimitReader(bytes.NewReader(raw), maxHeaderBytes))
	if err != nil {
		return []headerLine{{"(header)", "does not read: " + err.Error()}}
	}
	var out []headerLine
	for _, k := range shownHeaders {
		for _, v := range msg.Header[k] {
			if dv, err := headerDecoder.DecodeHeader(v); err == nil {
				v = dv
			}
			out = append(out, headerLine{k, v})
		}
	}
	return out
}

// formRow sets a form field beside the registry's record.
type formRow struct {
	Label, Field, Form, Registry string
	// Mismatch: both have a value and they differ (names compared as the
	// decision compares them).
	Mismatch bool
}

type requestData struct {
	D          *queue.RequestDetail
	Clock      clockOf
	Desc       string
	Review     queue.ReviewState
	Report     *pdfverify.Report
	ReportErr  string
	Decision   *authorize.Decision
	Headers    []headerLine
	Form       []formRow
	OtherForm  []headerLine // the form's other fields
	Registry   *authorize.Certificate
	RegistryOf string // why the registry column is empty
	Overrides  []queue.Override
	Pending    *queue.Override
	Reasons    []string
	CanAct     bool // may dismiss, ask, propose, re-verify
	CanDecide  bool // may approve or reject the pending override
	IsProposer bool
	Failing    []pdfverify.Check // the checks that did not pass
	// Representatives are those the registry holds for the organisation of
	// the certificate, with the SIREN they were looked up by.
	Representatives []authorize.Representative
	RepSIREN        string
	// FormReason is the reason written in the signed form, RevReason its
	// RFC 5280 name ("" when it does not read).
	FormReason, RevReason string
	KeyCompromise         bool
}

func (s *Server) requestPage(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.renderRequest(w, r, id, http.StatusOK, "")
}

func (s *Server) renderRequest(w http.ResponseWriter, r *http.Request, id int64, status int, msg string) {
	ctx := r.Context()
	d, err := s.svc.Store.Request(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	u := userOf(r)
	rd := &requestData{D: d, Clock: clockAt(d.ReceivedAt, s.cfg.Now()), Desc: Describe(d.ReasonCode), Reasons: DismissReasons}
	if rd.Review, err = s.svc.Store.RequestReview(ctx, id); err != nil {
		s.serverError(w, r, err)
		return
	}
	if rd.Report, err = s.svc.report(ctx, d.ReportSHA256); err != nil {
		rd.ReportErr = err.Error()
	}
	if rd.Report != nil {
		rd.FormReason = rd.Report.Form[s.fields().Reason]
		if r, ok := s.svc.reasonOf(rd.Report); ok {
			rd.RevReason = r.String()
			rd.KeyCompromise = r == revocation.KeyCompromise
		}
	}
	if len(d.Decision) > 0 {
		var dec authorize.Decision
		if json.Unmarshal(d.Decision, &dec) == nil {
			rd.Decision = &dec
		}
	}
	if d.Mail.RawSHA256 != "" {
		if raw, _, err := s.svc.Store.Evidence(ctx, d.Mail.RawSHA256); err == nil {
			rd.Headers = mailHeaders(raw)
		}
	}
	s.fillForm(r, rd)
	s.fillRepresentatives(r, rd)
	if rd.Overrides, err = s.svc.Store.Overrides(ctx, id); err != nil {
		s.serverError(w, r, err)
		return
	}
	for i := range rd.Overrides {
		if rd.Overrides[i].State == queue.OverridePending {
			rd.Pending = &rd.Overrides[i]
		}
	}
	if rd.Report != nil {
		rd.Failing = failingChecks(rd.Report, d.Reason)
	}
	rejected := d.State == revocation.StateRejected
	rd.CanAct = rejected && allowed(u.Role, ActDismiss)
	if rd.Pending != nil {
		rd.IsProposer = rd.Pending.Proposer == u.Name
		rd.CanDecide = allowed(u.Role, ActApprove) && !rd.IsProposer
	}
	s.render(w, r, status, "request", &page{Title: fmt.Sprintf("Request %d", id), Error: msg, Data: rd})
}

// failingChecks are the checks of the report that did not pass, document
// first, then each signature's, but for one that only repeats the
// request's reason.
func failingChecks(rep *pdfverify.Report, reason string) []pdfverify.Check {
	var out []pdfverify.Check
	add := func(cs []pdfverify.Check) {
		for _, c := range cs {
			if (c.Outcome == pdfverify.Failed || c.Outcome == pdfverify.Unknown) && c.Detail != reason {
				out = append(out, c)
			}
		}
	}
	add(rep.Checks)
	for _, sig := range rep.Signatures {
		add(sig.Checks)
	}
	return out
}

// fillForm sets the signed form's fields beside the registry's record of
// the certificate the form names.
func (s *Server) fillForm(r *http.Request, rd *requestData) {
	if rd.Report == nil || rd.Report.Form == nil {
		return
	}
	f := s.fields()
	form := rd.Report.Form
	serial := formSerial(form[f.Serial])
	if serial == nil {
		rd.RegistryOf = "the form's serial does not read"
	} else if certs, err := s.svc.Store.CertificatesBySerial(r.Context(), serial); err != nil {
		rd.RegistryOf = "the registry cannot be read"
	} else {
		for i := range certs {
			if rd.Registry == nil || certs[i].IssuerDN == rd.D.IssuerDN {
				rd.Registry = &certs[i]
			}
		}
		if rd.Registry == nil {
			rd.RegistryOf = "no certificate of the registry has serial " + authorize.FormatSerial(serial)
		}
	}
	reg := authorize.Certificate{}
	if rd.Registry != nil {
		reg = *rd.Registry
	}
	regSerial := ""
	if reg.Serial != nil {
		regSerial = authorize.FormatSerial(reg.Serial)
	}
	formSerialText := form[f.Serial]
	if serial != nil {
		formSerialText = authorize.FormatSerial(serial)
	}
	rows := []formRow{
		{"Serial", f.Serial, formSerialText, regSerial, false},
		{"Holder surname", f.HolderSurname, form[f.HolderSurname], reg.Surname, false},
		{"Holder given name", f.HolderGivenName, form[f.HolderGivenName], reg.GivenName, false},
		{"Holder e-mail", f.HolderEmail, form[f.HolderEmail], reg.Email, false},
		{"SIREN", f.SIREN, form[f.SIREN], reg.SIREN, false},
	}
	for i := range rows {
		a, b := rows[i].Form, rows[i].Registry
		if i == 4 {
			a = strings.ReplaceAll(a, " ", "")
		}
		rows[i].Mismatch = rd.Registry != nil && revocation.Normalize(a) != revocation.Normalize(b)
	}
	rd.Form = rows
	shown := map[string]bool{f.Serial: true, f.HolderSurname: true, f.HolderGivenName: true, f.HolderEmail: true, f.SIREN: true}
	var names []string
	for k := range form {
		if !shown[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		rd.OtherForm = append(rd.OtherForm, headerLine{k, form[k]})
	}
}

// fields are the form's field names.
func (s *Server) fields() authorize.FormFields {
	if s.svc.Fields.Serial == "" {
		return authorize.DefaultFormFields()
	}
	return s.svc.Fields
}

// fillRepresentatives lists the registry's legal representatives of the
// organisation of the certificate the form names: who may sign for it,
// beside who did.
func (s *Server) fillRepresentatives(r *http.Request, rd *requestData) {
	siren := ""
	if rd.Decision != nil {
		siren = rd.Decision.SIREN
	}
	if siren == "" && rd.Registry != nil {
		siren = rd.Registry.SIREN
	}
	if siren == "" {
		return
	}
	reps, err := s.svc.Store.RepresentativesBySIREN(r.Context(), siren)
	if err != nil {
		return
	}
	rd.RepSIREN, rd.Representatives = siren, reps
}

type revocationsData struct {
	Serial string
	Rows   []queue.RequestSummary
	Failed []queue.Job
	CanAct bool
}

func (s *Server) revocationsPage(w http.ResponseWriter, r *http.Request) {
	s.renderRevocations(w, r, http.StatusOK, "")
}

// maxRevocationsShown bounds the accepted and executed list without a
// search: the newest are what an operator looks at.
const maxRevocationsShown = 200

func (s *Server) renderRevocations(w http.ResponseWriter, r *http.Request, status int, msg string) {
	ctx := r.Context()
	d := &revocationsData{Serial: strings.TrimSpace(r.URL.Query().Get("serial")), CanAct: allowed(userOf(r).Role, ActRetry)}
	serial := ""
	if d.Serial != "" {
		n := formSerial(d.Serial)
		if n == nil {
			msg = "The serial is not hexadecimal."
		} else {
			serial = authorize.FormatSerial(n)
		}
	}
	var err error
	if d.Rows, err = s.svc.Store.Revocations(ctx, serial, maxRevocationsShown); err != nil {
		s.serverError(w, r, err)
		return
	}
	if d.Failed, err = s.svc.Store.JobsInState(ctx, queue.JobFailed); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, status, "revocations", &page{Title: "Revocations", Error: msg, Data: d})
}
