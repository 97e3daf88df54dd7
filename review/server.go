package review

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/revokd/revokd/queue"
)

// Defaults of Config.
const (
	// DefaultIdleTimeout ends a session nobody used for a quarter of an
	// hour: a desk left unlocked does not stay logged in.
	DefaultIdleTimeout = 15 * time.Minute
	// DefaultMaxSessionAge ends every session after a working day.
	DefaultMaxSessionAge = 12 * time.Hour
	// loginWindow, maxLoginFailures and maxAddressFailures rate-limit
	// logins: five failures in a quarter of an hour for one account, or
	// twenty from one client address (a desk behind one NAT address), and
	// further tries are refused unchecked until the window slides on.
	loginWindow        = 15 * time.Minute
	maxLoginFailures   = 5
	maxAddressFailures = 20
	// maxFormBytes bounds a posted form: a justification is a paragraph.
	maxFormBytes = 64 << 10
	// maxTextRunes bounds a reason or justification kept in the store.
	maxTextRunes  = 4000
	sessionCookie = "revokd_session"
)

// Config configures a Server. Service is required.
type Config struct {
	Service *Service
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// IdleTimeout and MaxSessionAge end sessions; zero: the defaults.
	IdleTimeout   time.Duration
	MaxSessionAge time.Duration
	// Logger receives logins and actions (names and ids, never personal
	// data of senders); nil discards.
	Logger *slog.Logger
}

// Server is the review desk's web UI: an http.Handler for every path but
// /healthz and /metrics, which the caller serves beside it.
//
// Security: every page and action needs a session, opened by a password
// and a second factor (a TOTP code, or a client certificate verified by
// the TLS server whose common name is the account's name). Sessions live
// in memory (a restart logs everyone out) in Secure, HttpOnly,
// SameSite=Strict cookies, and end after IdleTimeout unused; the account
// is read again at every request, so disabling it ends its sessions at
// once. Every form carries the session's CSRF token; every response a
// strict Content-Security-Policy (no script at all). Downloads are
// attachments, never rendered by the browser.
type Server struct {
	cfg   Config
	svc   *Service
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template

	mu       sync.Mutex
	sessions map[string]*session
	failures map[string][]time.Time
	lastStep map[string]uint64 // the last TOTP step used per account
}

type session struct {
	name     string
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// New returns the UI of cfg.Service.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.Service.Store == nil {
		return nil, errors.New("review: no service or store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSessionAge <= 0 {
		cfg.MaxSessionAge = DefaultMaxSessionAge
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, svc: cfg.Service, log: log, pages: pages, mux: http.NewServeMux(),
		sessions: map[string]*session{}, failures: map[string][]time.Time{}, lastStep: map[string]uint64{}}
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.authed(s.logout))
	s.mux.HandleFunc("GET /{$}", s.authed(s.queuePage))
	s.mux.HandleFunc("GET /requests/{id}", s.authed(s.requestPage))
	s.mux.HandleFunc("GET /requests/{id}/pdf", s.authed(s.download))
	s.mux.HandleFunc("GET /requests/{id}/eml", s.authed(s.download))
	s.mux.HandleFunc("POST /requests/{id}/{action}", s.authed(s.act))
	s.mux.HandleFunc("GET /revocations", s.authed(s.revocationsPage))
	s.mux.HandleFunc("POST /jobs/{id}/retry", s.authed(s.retry))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	return s, nil
}

// contentSecurityPolicy allows nothing but the page's own stylesheet (by
// its hash), images from the page's origin and forms posted to it: no
// script runs on the desk's pages, whatever a mail manages to slip in.
var contentSecurityPolicy = "default-src 'none'; style-src '" + styleHash + "'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

var styleHash = func() string {
	sum := sha256.Sum256([]byte(styleSheet))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}()

// ServeHTTP sets the security headers of every response and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	// A form posted from another site is refused before anything reads
	// it, the login form included (which has no session to carry a CSRF
	// token yet).
	if r.Method == http.MethodPost && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		http.Error(w, "forms are accepted from the desk's own pages only", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err)) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// user is the account behind a request's session.
type user struct {
	Name string
	Role string
	CSRF string
}

type ctxKey struct{}

func userOf(r *http.Request) user { return r.Context().Value(ctxKey{}).(user) }

// authed wraps a handler that needs a live session of an enabled account,
// and, for anything but GET, the session's CSRF token.
func (s *Server) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.session(r)
		if sess == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusForbidden)
			return
		}
		acct, err := s.svc.Account(r.Context(), sess.name)
		if err != nil {
			// Disabled or removed since the login: the session ends now.
			s.dropSession(r)
			if IsRefused(err) {
				http.Error(w, "this account can no longer act; log in again", http.StatusForbidden)
				return
			}
			s.serverError(w, r, err)
			return
		}
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "the form does not read", http.StatusBadRequest)
				return
			}
			got := r.PostForm.Get("csrf")
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				s.log.WarnContext(r.Context(), "request without a valid CSRF token refused", "operator", acct.Name, "path", r.URL.Path)
				http.Error(w, "this form is stale or was not sent by the desk's page: reload the page", http.StatusForbidden)
				return
			}
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, user{Name: acct.Name, Role: acct.Role, CSRF: sess.csrf})
		next(w, r.WithContext(ctx))
	}
}

// session returns the live session of r, refreshing its idle time, or nil.
func (s *Server) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[c.Value]
	if sess == nil {
		return nil
	}
	if now.Sub(sess.lastSeen) > s.cfg.IdleTimeout || now.Sub(sess.created) > s.cfg.MaxSessionAge {
		delete(s.sessions, c.Value)
		return nil
	}
	sess.lastSeen = now
	cp := *sess
	return &cp
}

func (s *Server) dropSession(r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.sessions, c.Value)
		s.mu.Unlock()
	}
}

func setSessionCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// clientKey is the address a login comes from, for the rate limit.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}

// limited reports whether an account or an address has had too many
// failed logins lately.
func (s *Server) limited(now time.Time, keys ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		limit := maxLoginFailures
		if strings.HasPrefix(k, "ip:") {
			limit = maxAddressFailures
		}
		recent := s.failures[k][:0]
		for _, t := range s.failures[k] {
			if now.Sub(t) < loginWindow {
				recent = append(recent, t)
			}
		}
		s.failures[k] = recent
		if len(recent) >= limit {
			return true
		}
	}
	return false
}

func (s *Server) fail(now time.Time, keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) > maxTrackedFailures {
		s.pruneLocked(now)
	}
	for _, k := range keys {
		s.failures[k] = append(s.failures[k], now)
	}
}

// maxTrackedFailures is how many accounts and addresses with failed
// logins are remembered before the expired ones are dropped: guesses at
// many names must not grow the map for ever.
const maxTrackedFailures = 10000

// pruneLocked drops expired sessions and failures older than the rate
// limit's window; s.mu is held.
func (s *Server) pruneLocked(now time.Time) {
	for k, sess := range s.sessions {
		if now.Sub(sess.lastSeen) > s.cfg.IdleTimeout || now.Sub(sess.created) > s.cfg.MaxSessionAge {
			delete(s.sessions, k)
		}
	}
	for k, ts := range s.failures {
		if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= loginWindow {
			delete(s.failures, k)
		}
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", &page{Title: "Log in"})
}

// login checks the name, the password and the second factor, all three
// before answering, with one message for any failure.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form does not read", http.StatusBadRequest)
		return
	}
	now := s.cfg.Now()
	name, pw, code := r.PostForm.Get("name"), r.PostForm.Get("password"), r.PostForm.Get("code")
	keys := []string{"name:" + name, clientKey(r)}
	if s.limited(now, keys...) {
		s.log.WarnContext(r.Context(), "login refused: too many failures", "operator", name)
		s.render(w, r, http.StatusTooManyRequests, "login", &page{Title: "Log in",
			Error: "Too many failed logins: wait a quarter of an hour, or ask another operator to check your account."})
		return
	}
	ok, step := s.checkLogin(r, name, pw, code, now)
	if !ok {
		s.fail(now, keys...)
		s.log.WarnContext(r.Context(), "login failed", "operator", name)
		s.render(w, r, http.StatusUnauthorized, "login", &page{Title: "Log in",
			Error: "Wrong name, password or code (or the account is disabled)."})
		return
	}
	token := randomToken()
	s.mu.Lock()
	s.pruneLocked(now)
	if step != 0 {
		s.lastStep[name] = step
	}
	delete(s.failures, "name:"+name)
	s.sessions[token] = &session{name: name, csrf: randomToken(), created: now, lastSeen: now}
	s.mu.Unlock()
	setSessionCookie(w, token, int(s.cfg.MaxSessionAge/time.Second))
	s.log.InfoContext(r.Context(), "operator logged in", "operator", name)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// checkLogin returns whether the credentials hold, and the TOTP step used
// (0 when a client certificate was the second factor).
func (s *Server) checkLogin(r *http.Request, name, pw, code string, now time.Time) (bool, uint64) {
	if name == "" || pw == "" {
		return false, 0
	}
	acct, err := s.svc.Account(r.Context(), name)
	if err != nil {
		// Spend the time a hash takes anyway, so that the answer's delay
		// does not tell which names exist.
		_, _ = VerifyPassword(pw, dummyHash())
		return false, 0
	}
	if ok, err := VerifyPassword(pw, acct.PasswordHash); err != nil || !ok {
		return false, 0
	}
	if clientCertIs(r, name) {
		return true, 0
	}
	if acct.TOTPSecret == "" {
		return false, 0
	}
	step, ok := verifyTOTP(acct.TOTPSecret, code, now)
	if !ok {
		return false, 0
	}
	s.mu.Lock()
	used := s.lastStep[name] >= step
	s.mu.Unlock()
	if used {
		// A code already used (seen over a shoulder, replayed) is refused.
		return false, 0
	}
	return true, step
}

// dummyHash is verified against for unknown names; made on first use, so
// that a process that never checks a login never pays for it.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("unknown account", DefaultArgon2)
	return h
})

// clientCertIs reports whether the TLS client presented a certificate,
// verified against http.client_ca by the TLS server, whose common name is
// name.
func clientCertIs(r *http.Request, name string) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return false
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName == name
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.dropSession(r)
	setSessionCookie(w, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "review desk error", "path", r.URL.Path, "err", err)
	http.Error(w, "the store cannot be read or written now; try again", http.StatusInternalServerError)
}

func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// actor is the operator of r, for the service.
func actor(r *http.Request) Actor { return Actor{Name: userOf(r).Name, Via: "web"} }

// act runs one action on a request and goes back to its page.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f := r.PostForm
	a := actor(r)
	ctx := r.Context()
	var err error
	action := Action(r.PathValue("action"))
	switch action {
	case ActDismiss:
		err = s.svc.Dismiss(ctx, a, id, f.Get("reason"), clip(f.Get("text")))
	case ActAsk:
		err = s.svc.AskNewForm(ctx, a, id, clip(f.Get("fix")))
	case ActOverride:
		_, err = s.svc.Override(ctx, a, id, clip(f.Get("justification")))
	case ActApprove:
		_, err = s.svc.Approve(ctx, a, id)
	case ActReject:
		_, err = s.svc.Reject(ctx, a, id, clip(f.Get("note")))
	case ActReverify:
		_, err = s.svc.Reverify(ctx, a, id)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		if IsRefused(err) {
			s.log.InfoContext(ctx, "action refused", "operator", a.Name, "action", action, "request", id, "why", err.Error())
			s.renderRequest(w, r, id, http.StatusForbidden, err.Error())
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "review action", "operator", a.Name, "action", action, "request", id)
	http.Redirect(w, r, fmt.Sprintf("/requests/%d?done=%s", id, action), http.StatusSeeOther)
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := s.svc.RetryJob(r.Context(), actor(r), id); err != nil {
		if IsRefused(err) {
			s.renderRevocations(w, r, http.StatusForbidden, err.Error())
			return
		}
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/revocations?done=retry", http.StatusSeeOther)
}

// clip bounds operator text kept in the store.
func clip(s string) string {
	if rs := []rune(s); len(rs) > maxTextRunes {
		return string(rs[:maxTextRunes])
	}
	return s
}

// download serves a request's PDF or raw mail as an attachment, never
// inline: a hostile file must not run in the desk's origin.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	d, err := s.svc.Store.Request(r.Context(), id)
	if errors.Is(err, queue.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	sum, ext := d.PDFSHA256, "pdf"
	if r.URL.Path[len(r.URL.Path)-3:] == "eml" {
		sum, ext = d.Mail.RawSHA256, "eml"
	}
	if sum == "" {
		http.NotFound(w, r)
		return
	}
	b, _, err := s.svc.Store.Evidence(r.Context(), sum)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="request-%d.%s"`, id, ext))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	s.log.InfoContext(r.Context(), "evidence downloaded", "operator", userOf(r).Name, "request", id, "kind", ext)
	w.Write(b)
}
