package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/notify"
	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/review"
)

// newReviewService is the review desk's actions on store; reexaminer
// (the worker) re-verifies stored evidence, nil where there is none.
func newReviewService(cfg *Config, store *queue.Store, reexaminer review.Reexaminer) *review.Service {
	return &review.Service{Store: store, Fields: authorize.FormFieldsFromMap(cfg.Form.Fields), Reexaminer: reexaminer,
		Notices: review.Notices{Dismissed: notify.Dismissed, NewFormAsked: notify.NewFormAsked}}
}

// deskTLS checks [http]'s TLS settings (required off loopback) and loads
// them; nil means plain HTTP on loopback.
func deskTLS(cfg *Config) (*tls.Config, error) {
	return review.ListenConfig{Address: cfg.HTTP.Address, CertFile: cfg.HTTP.TLSCert, KeyFile: cfg.HTTP.TLSKey,
		ClientCA: cfg.HTTP.ClientCA}.TLSConfig()
}

// mountDesk adds the operators' review desk to mux, beside the service
// endpoints: every path but those, and /healthz/review, the 24-hour
// clock's health (200 while no request is past the deadline, 503 then).
func mountDesk(mux *http.ServeMux, cfg *Config, store *queue.Store, reexaminer review.Reexaminer, log *slog.Logger) error {
	srv, err := review.New(review.Config{Service: newReviewService(cfg, store, reexaminer),
		IdleTimeout: cfg.HTTP.IdleTimeout.Duration, Logger: log})
	if err != nil {
		return err
	}
	mux.Handle("/", srv)
	mux.HandleFunc("GET /healthz/review", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		c, err := store.Clock(r.Context())
		if err != nil {
			http.Error(w, "review: FAIL the store cannot be read", http.StatusServiceUnavailable)
			return
		}
		line, late := review.ClockHealth(c, time.Now())
		if late {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, line)
	})
	return nil
}

// serveHTTP serves h on ln, over TLS when tlsCfg is set; it returns the
// function that stops it and the URL it is reached at.
func serveHTTP(ln net.Listener, h http.Handler, tlsCfg *tls.Config) (func(context.Context) error, string) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg}
	if tlsCfg != nil {
		go srv.ServeTLS(ln, "", "")
		return srv.Shutdown, "https://" + ln.Addr().String()
	}
	go srv.Serve(ln)
	return srv.Shutdown, "http://" + ln.Addr().String()
}

// The review desk's clock, for Prometheus: counts and an age, no
// personal data.
var (
	reviewWaitingDesc = prometheus.NewDesc("revokd_review_waiting", "Refused requests waiting for an operator.", nil, nil)
	reviewOldestDesc  = prometheus.NewDesc("revokd_review_oldest_age_seconds", "Age of the oldest refused request waiting for an operator (0 when none).", nil, nil)
	reviewOver12Desc  = prometheus.NewDesc("revokd_review_over_12h", "Refused requests waiting for more than 12 hours.", nil, nil)
	reviewOver24Desc  = prometheus.NewDesc("revokd_review_over_24h", "Refused requests past the 24-hour deadline.", nil, nil)
)

// clockCollector reads the review desk's clock at each scrape.
type clockCollector struct{ store *queue.Store }

func (c *clockCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{reviewWaitingDesc, reviewOldestDesc, reviewOver12Desc, reviewOver24Desc} {
		ch <- d
	}
}

func (c *clockCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	clock, err := c.store.Clock(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(reviewWaitingDesc, err)
		return
	}
	age := 0.0
	if !clock.Oldest.IsZero() {
		age = time.Since(clock.Oldest).Seconds()
	}
	for _, m := range []struct {
		d *prometheus.Desc
		v float64
	}{{reviewWaitingDesc, float64(clock.Waiting)}, {reviewOldestDesc, age}, {reviewOver12Desc, float64(clock.Over12h)}, {reviewOver24Desc, float64(clock.Over24h)}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.GaugeValue, m.v)
	}
}
