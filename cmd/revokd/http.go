package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/revokd/revokd/ingest"
)

// readyTimeout bounds the store's part of a readiness check: a store that
// takes longer to answer a one-row query is not ready.
const readyTimeout = 5 * time.Second

// mount adds the service endpoints to mux: /healthz (the process serves),
// /readyz (every component works), /metrics (Prometheus). Other parts of
// revokd (the operators' pages) mount theirs on the same mux.
func (a *app) mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", a.serveReady)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		a.verifySeconds, &appCollector{a: a}, &clockCollector{store: a.store})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
}

// componentStatus is one component's readiness: "ok", or why not.
type componentStatus struct {
	Name   string // store, imap, smtp
	OK     bool
	Reason string
}

// ready checks every component the worker needs and says how each
// stands.
func (a *app) ready(ctx context.Context, now time.Time) []componentStatus {
	var out []componentStatus
	sctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := a.store.Ready(sctx); err != nil {
		out = append(out, componentStatus{"store", false, err.Error()})
	} else {
		out = append(out, componentStatus{"store", true, "ok"})
	}
	out = append(out, a.imapStatus(now))
	switch at, err := a.relay.Last(); {
	case a.relay == nil:
		out = append(out, componentStatus{"smtp", true, "no relay configured: notifications stay in the outbox"})
	case err != nil:
		out = append(out, componentStatus{"smtp", false, fmt.Sprintf("relay unreachable at the last attempt (%s): %v", at.UTC().Format(time.RFC3339), err)})
	case at.IsZero():
		out = append(out, componentStatus{"smtp", true, "ok (nothing sent yet)"})
	default:
		out = append(out, componentStatus{"smtp", true, "ok at the last attempt (" + at.UTC().Format(time.RFC3339) + ")"})
	}
	return out
}

func (a *app) imapStatus(now time.Time) componentStatus {
	held, known, holder := a.leaseState.get()
	switch {
	case !known:
		return componentStatus{"imap", false, "starting"}
	case !held:
		return componentStatus{"imap", false, "waiting for the mailbox, held by another revokd: " + holder.String()}
	}
	h := a.mailbox.Health()
	switch h.State {
	case ingest.SessionReady:
		if quiet := now.Sub(h.LastActivity); quiet > h.ActivityWindow {
			return componentStatus{"imap", false, fmt.Sprintf("no answer from the server for %s", quiet.Round(time.Second))}
		}
		return componentStatus{"imap", true, "ok (logged in, last activity " + h.LastActivity.UTC().Format(time.RFC3339) + ")"}
	case ingest.SessionAuthFailed:
		return componentStatus{"imap", false, "authentication failed: " + h.LastError}
	case ingest.SessionDown:
		return componentStatus{"imap", false, "disconnected since " + h.Since.UTC().Format(time.RFC3339) + ": " + h.LastError}
	default:
		return componentStatus{"imap", false, "connecting"}
	}
}

// serveReady answers 200 when every component is ready and 503 otherwise,
// with one line per component: "name: ok ..." or "name: FAIL reason".
func (a *app) serveReady(w http.ResponseWriter, r *http.Request) {
	sts := a.ready(r.Context(), time.Now())
	var b strings.Builder
	code := http.StatusOK
	for _, s := range sts {
		if s.OK {
			fmt.Fprintf(&b, "%s: %s\n", s.Name, s.Reason)
		} else {
			code = http.StatusServiceUnavailable
			fmt.Fprintf(&b, "%s: FAIL %s\n", s.Name, s.Reason)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprint(w, b.String())
}
