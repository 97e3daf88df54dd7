package review

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/revocation"
)

// auditRows counts the audit log: every write of the desk adds a row, so
// an unchanged count proves a refused request changed nothing.
func (d *desk) auditRows() int64 {
	d.t.Helper()
	h, err := d.store.VerifyAudit(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return h.Rows
}

// failedJob makes the holder's revocation job fail for good.
func (d *desk) failedJob() int64 {
	d.t.Helper()
	ctx := context.Background()
	for range 4 * queue.DefaultMaxAttempts {
		d.clock.Advance(2 * time.Hour)
		j, err := d.store.ClaimJob(ctx, time.Minute, "executor")
		if err != nil || j == nil {
			d.t.Fatalf("ClaimJob = %v, %v", j, err)
		}
		if _, err := d.store.FailJob(ctx, j.ID, j.Attempts, "CA signing service down", "executor"); err != nil {
			d.t.Fatal(err)
		}
		jobs, err := d.store.JobsInState(ctx, queue.JobFailed)
		if err != nil {
			d.t.Fatal(err)
		}
		if len(jobs) > 0 {
			return jobs[0].ID
		}
	}
	d.t.Fatal("no job failed")
	return 0
}

type route struct {
	method, path string
	form         url.Values
}

// deskRoutes are every page and action of the desk, on requests of d.
func deskRoutes(d *desk, jobID int64) []route {
	forged, impostor := d.ids[mailForged], d.ids[mailImpostor]
	return []route{
		{"GET", "/", nil},
		{"GET", fmt.Sprintf("/requests/%d", forged), nil},
		{"GET", fmt.Sprintf("/requests/%d/pdf", forged), nil},
		{"GET", fmt.Sprintf("/requests/%d/eml", forged), nil},
		{"GET", "/revocations?serial=" + d.sc.Holder.Cert.SerialNumber.Text(16), nil},
		{"POST", fmt.Sprintf("/requests/%d/dismiss", forged), url.Values{"reason": {"forged or altered form"}, "text": {"x"}}},
		{"POST", fmt.Sprintf("/requests/%d/ask", forged), url.Values{"fix": {"sign again"}}},
		{"POST", fmt.Sprintf("/requests/%d/override", forged), url.Values{"justification": {"genuine"}}},
		{"POST", fmt.Sprintf("/requests/%d/approve", impostor), url.Values{}},
		{"POST", fmt.Sprintf("/requests/%d/reject", impostor), url.Values{"note": {"no"}}},
		{"POST", fmt.Sprintf("/requests/%d/reverify", forged), url.Values{}},
		{"POST", fmt.Sprintf("/jobs/%d/retry", jobID), url.Values{}},
		{"POST", "/logout", url.Values{}},
	}
}

// TestEveryRouteRefuses: no page or action answers an anonymous request,
// a missing or wrong CSRF token, an auditor's write or a disabled
// account's session.
func TestEveryRouteRefuses(t *testing.T) {
	d := newDesk(t)
	for _, n := range []struct{ name, role string }{{"olga", RoleOperator}, {"bruno", RoleApprover}, {"denis", RoleAuditor}, {"gone", RoleApprover}} {
		d.addOperator(n.name, n.role)
	}
	jobID := d.failedJob()
	// An override waits on the impostor's request, so that approve and
	// reject have something to refuse.
	if _, err := d.svc.Override(context.Background(), Actor{Name: "olga"}, d.ids[mailImpostor], "the representative's mandate was registered late"); err != nil {
		t.Fatal(err)
	}
	routes := deskRoutes(d, jobID)
	holderEmail := "helene.dupont"

	check := func(t *testing.T, w interface {
		Result() *http.Response
	}, body string, rt route, before int64) {
		t.Helper()
		res := w.Result()
		if res.StatusCode == http.StatusOK || (res.StatusCode == http.StatusSeeOther && rt.method == "POST" && res.Header.Get("Location") != "/login") {
			t.Errorf("%s %s: status %d, want a refusal", rt.method, rt.path, res.StatusCode)
		}
		if strings.Contains(body, holderEmail) || strings.Contains(body, "%PDF") {
			t.Errorf("%s %s: the refusal shows request data", rt.method, rt.path)
		}
		if res.Header.Get("Content-Disposition") != "" {
			t.Errorf("%s %s: a download was served", rt.method, rt.path)
		}
		if got := d.auditRows(); got != before {
			t.Errorf("%s %s: the audit log grew from %d to %d rows: something was done", rt.method, rt.path, before, got)
		}
	}

	t.Run("fail/anonymous", func(t *testing.T) {
		for _, rt := range routes {
			before := d.auditRows()
			w := d.do(rt.method, rt.path, rt.form, "")
			check(t, w, w.Body.String(), rt, before)
			if rt.method == "GET" && (w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login") {
				t.Errorf("GET %s: %d to %q, want 303 to /login", rt.path, w.Code, w.Header().Get("Location"))
			}
		}
	})
	t.Run("fail/unknown-session", func(t *testing.T) {
		for _, rt := range routes {
			before := d.auditRows()
			w := d.do(rt.method, rt.path, rt.form, "forged-session-token")
			check(t, w, w.Body.String(), rt, before)
		}
	})
	cookie, csrf := d.login("bruno")
	for _, tc := range []struct{ name, token string }{{"fail/missing-csrf", ""}, {"fail/wrong-csrf", csrf[:len(csrf)-2] + "xx"}, {"fail/other-session-csrf", "AAAA" + csrf[4:]}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rt := range routes {
				if rt.method != "POST" {
					continue
				}
				form := url.Values{}
				for k, v := range rt.form {
					form[k] = v
				}
				if tc.token != "" {
					form.Set("csrf", tc.token)
				}
				before := d.auditRows()
				w := d.do(rt.method, rt.path, form, cookie)
				check(t, w, w.Body.String(), rt, before)
				if w.Code != http.StatusForbidden {
					t.Errorf("POST %s: %d, want 403", rt.path, w.Code)
				}
			}
		})
	}
	t.Run("fail/auditor-writes", func(t *testing.T) {
		ac, acsrf := d.login("denis")
		for _, rt := range routes {
			if rt.method != "POST" || rt.path == "/logout" {
				continue
			}
			form := url.Values{"csrf": {acsrf}}
			for k, v := range rt.form {
				form[k] = v
			}
			before := d.auditRows()
			w := d.do(rt.method, rt.path, form, ac)
			if w.Code != http.StatusForbidden {
				t.Errorf("auditor POST %s: %d, want 403", rt.path, w.Code)
			}
			if got := d.auditRows(); got != before {
				t.Errorf("auditor POST %s: the audit log grew: something was done", rt.path)
			}
		}
		// The auditor reads everything.
		for _, rt := range routes {
			if rt.method == "GET" {
				if w := d.do("GET", rt.path, nil, ac); w.Code != http.StatusOK {
					t.Errorf("auditor GET %s: %d, want 200", rt.path, w.Code)
				}
			}
		}
	})
	t.Run("fail/disabled-session", func(t *testing.T) {
		gc, gcsrf := d.login("gone")
		if w := d.do("GET", "/", nil, gc); w.Code != http.StatusOK {
			t.Fatalf("GET / before disabling: %d", w.Code)
		}
		if err := d.store.DisableOperator(context.Background(), "gone", "test"); err != nil {
			t.Fatal(err)
		}
		for _, rt := range routes {
			form := url.Values{"csrf": {gcsrf}}
			for k, v := range rt.form {
				form[k] = v
			}
			if rt.method == "GET" {
				form = nil
			}
			before := d.auditRows()
			// A fresh login is refused too; the old session is the point.
			w := d.do(rt.method, rt.path, form, gc)
			check(t, w, w.Body.String(), rt, before)
		}
		d.clock.Advance(totpStep)
		w := d.do("POST", "/login", url.Values{"name": {"gone"}, "password": {"gone-password"}, "code": {d.code("gone")}}, "")
		if w.Code != http.StatusUnauthorized {
			t.Errorf("login of a disabled account: %d, want 401", w.Code)
		}
	})
}

func TestDownloadsAreAttachments(t *testing.T) {
	d := newDesk(t)
	d.addOperator("olga", RoleOperator)
	cookie, _ := d.login("olga")
	id := d.ids[mailForged]
	for _, kind := range []string{"pdf", "eml"} {
		w := d.do("GET", fmt.Sprintf("/requests/%d/%s", id, kind), nil, cookie)
		h := w.Header()
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d", kind, w.Code)
		}
		if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
			t.Errorf("%s: Content-Disposition %q, want an attachment", kind, cd)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", kind)
		}
		if ct := h.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("%s: Content-Type %q, want application/octet-stream", kind, ct)
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%s: CSP %q has no sandbox", kind, h.Get("Content-Security-Policy"))
		}
		want := "%PDF"
		if kind == "eml" {
			want = "From: helene.dupont@example.fr"
		}
		if !strings.HasPrefix(w.Body.String(), want) {
			t.Errorf("%s: body starts %q, want %q", kind, w.Body.String()[:min(20, w.Body.Len())], want)
		}
	}
}

func TestPagesCarrySecurityHeaders(t *testing.T) {
	d := newDesk(t)
	d.addOperator("olga", RoleOperator)
	cookie, _ := d.login("olga")
	for _, p := range []string{"/login", "/", fmt.Sprintf("/requests/%d", d.ids[mailForged]), "/revocations"} {
		w := d.do("GET", p, nil, cookie)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, w.Code)
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
			t.Errorf("GET %s: CSP %q, want default-src 'none' and no script", p, csp)
		}
		if strings.Contains(w.Body.String(), "<script") {
			t.Errorf("GET %s: the page has a script", p)
		}
	}
	w := d.do("POST", "/login", url.Values{"name": {"olga"}, "password": {"olga-password"}, "code": {"000000"}}, "")
	for _, c := range w.Result().Cookies() {
		t.Errorf("a failed login set cookie %s", c.Name)
	}
	d.clock.Advance(totpStep)
	w = d.do("POST", "/login", url.Values{"name": {"olga"}, "password": {"olga-password"}, "code": {d.code("olga")}}, "")
	set := w.Header().Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(set, attr) {
			t.Errorf("session cookie %q lacks %s", set, attr)
		}
	}
}

func TestLogin(t *testing.T) {
	d := newDesk(t)
	d.addOperator("olga", RoleOperator)
	d.addOperator("pat", RoleOperator)
	post := func(name, pw, code string) int {
		return d.do("POST", "/login", url.Values{"name": {name}, "password": {pw}, "code": {code}}, "").Code
	}
	d.clock.Advance(totpStep)
	good := d.code("olga")
	for _, tc := range []struct {
		name           string
		user, pw, code string
		want           int
	}{
		{"fail/no-code", "olga", "olga-password", "", http.StatusUnauthorized},
		{"fail/wrong-code", "olga", "olga-password", "123456", http.StatusUnauthorized},
		{"fail/other-accounts-code", "pat", "pat-password", good, http.StatusUnauthorized},
		{"fail/wrong-password", "olga", "olga-passwordX", good, http.StatusUnauthorized},
		{"fail/unknown-account", "mallory", "olga-password", good, http.StatusUnauthorized},
		{"ok/password-and-code", "olga", "olga-password", good, http.StatusSeeOther},
		{"fail/code-replayed", "olga", "olga-password", good, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.user, tc.pw, tc.code); got != tc.want {
				t.Errorf("login = %d, want %d", got, tc.want)
			}
		})
	}
	t.Run("fail/rate-limited", func(t *testing.T) {
		d.addOperator("quinn", RoleOperator)
		for range maxLoginFailures {
			post("quinn", "wrong", "000000")
		}
		d.clock.Advance(totpStep)
		if got := post("quinn", "quinn-password", d.code("quinn")); got != http.StatusTooManyRequests {
			t.Errorf("login after %d failures = %d, want 429", maxLoginFailures, got)
		}
		d.clock.Advance(loginWindow)
		if got := post("quinn", "quinn-password", d.code("quinn")); got != http.StatusSeeOther {
			t.Errorf("login once the window passed = %d, want 303", got)
		}
	})
	t.Run("fail/cross-site-form", func(t *testing.T) {
		d.addOperator("sam", RoleOperator)
		d.clock.Advance(totpStep)
		r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"name": {"sam"}, "password": {"sam-password"}, "code": {d.code("sam")}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		w := httptest.NewRecorder()
		d.srv.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
			t.Errorf("cross-site login: %d with cookies %v, want 403 and none", w.Code, w.Result().Cookies())
		}
	})
	t.Run("fail/idle-session", func(t *testing.T) {
		d.addOperator("ruth", RoleOperator)
		cookie, _ := d.login("ruth")
		d.clock.Advance(DefaultIdleTimeout - time.Minute)
		if w := d.do("GET", "/", nil, cookie); w.Code != http.StatusOK {
			t.Fatalf("GET / within the idle timeout: %d", w.Code)
		}
		d.clock.Advance(DefaultIdleTimeout + time.Second)
		if w := d.do("GET", "/", nil, cookie); w.Code != http.StatusSeeOther {
			t.Errorf("GET / after the idle timeout: %d, want 303 to /login", w.Code)
		}
	})
}

// TestDismissTellsTheSender: a dismissal closes the request and queues
// the notice in the same transaction, with the operator's name, role and
// reason in the audit log.
func TestDismissTellsTheSender(t *testing.T) {
	d := newDesk(t)
	d.addOperator("olga", RoleOperator)
	cookie, csrf := d.login("olga")
	id := d.ids[mailForged]
	w := d.do("POST", fmt.Sprintf("/requests/%d/dismiss", id), url.Values{"csrf": {csrf}, "reason": {"forged or altered form"},
		"text": {"the serial was changed after signing"}}, cookie)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("dismiss: %d %s", w.Code, w.Body.String())
	}
	r, err := d.store.Request(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != revocation.StateDismissed {
		t.Errorf("state %s, want dismissed", r.State)
	}
	var notice *queue.OutboxRecord
	for i := range r.Outbox {
		if r.Outbox[i].Kind == "dismissed" {
			notice = &r.Outbox[i]
		}
	}
	if notice == nil || notice.To != "helene.dupont@example.fr" {
		t.Errorf("outbox %+v: want a dismissed notice to the sender", r.Outbox)
	}
	last := r.Audit[len(r.Audit)-1]
	for _, want := range []string{`"operator":"olga"`, `"role":"operator"`, `"via":"web"`, `the serial was changed after signing`} {
		if !strings.Contains(string(last.Details), want) {
			t.Errorf("audit %s %s: lacks %s", last.Action, last.Details, want)
		}
	}
	if last.Action != "request.dismissed" || last.Actor != "operator:olga" {
		t.Errorf("audit row %s by %s, want request.dismissed by operator:olga", last.Action, last.Actor)
	}
	// Dismissed once, it cannot be dismissed again.
	w = d.do("POST", fmt.Sprintf("/requests/%d/dismiss", id), url.Values{"csrf": {csrf}, "reason": {"other"}, "text": {"again"}}, cookie)
	if w.Code != http.StatusForbidden {
		t.Errorf("second dismissal: %d, want 403", w.Code)
	}
}
