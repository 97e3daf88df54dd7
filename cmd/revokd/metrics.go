package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revokd/revokd/ingest"
	"github.com/revokd/revokd/queue"
)

// The metrics revokd exports. No label carries an e-mail address, a name
// or a serial: labels are states, reason codes and results, all from
// closed lists.
var (
	mailsSeenDesc       = prometheus.NewDesc("revokd_mails_seen_total", "Mails handed to the worker, over-size ones included.", nil, nil)
	mailsOverCapDesc    = prometheus.NewDesc("revokd_mails_over_cap_total", "Mails over the size cap, not downloaded.", nil, nil)
	mailsProcessedDesc  = prometheus.NewDesc("revokd_mails_processed_total", "Mails moved to the processed folder.", nil, nil)
	mailsRejectedDesc   = prometheus.NewDesc("revokd_mails_rejected_total", "Mails moved to the rejected folder.", nil, nil)
	handlerErrorsDesc   = prometheus.NewDesc("revokd_handler_errors_total", "Mails left in the mailbox for a retry after an error.", nil, nil)
	mailsFailingDesc    = prometheus.NewDesc("revokd_mails_failing", "Mails waiting for a retry after their handling failed.", nil, nil)
	imapConnectsDesc    = prometheus.NewDesc("revokd_imap_connects_total", "IMAP sessions opened (logged in, mailbox selected).", nil, nil)
	imapReconnectsDesc  = prometheus.NewDesc("revokd_imap_reconnects_total", "IMAP sessions or connection attempts that ended with an error and were retried.", nil, nil)
	imapAuthFailDesc    = prometheus.NewDesc("revokd_imap_auth_failures_total", "IMAP connections whose credentials the server refused.", nil, nil)
	imapStateDesc       = prometheus.NewDesc("revokd_imap_session_state", "1 for the IMAP session's current state (starting, ready, auth_failed, down), 0 for the others.", []string{"state"}, nil)
	imapLastPollDesc    = prometheus.NewDesc("revokd_imap_last_poll_timestamp_seconds", "When the mailbox was last listed in full (Unix time; 0 before the first).", nil, nil)
	requestsDesc        = prometheus.NewDesc("revokd_requests", "Requests in the store by state and reason code (empty when accepted).", []string{"state", "reason_code"}, nil)
	jobsDesc            = prometheus.NewDesc("revokd_revocation_jobs", "Revocation jobs by state.", []string{"state"}, nil)
	outboxDesc          = prometheus.NewDesc("revokd_outbox_messages", "Notifications in the outbox by state (pending and running are the backlog).", []string{"state"}, nil)
	verificationsDesc   = prometheus.NewDesc("revokd_verifications", "Archived mails to verify by state (pending and running are the backlog of every worker's verifiers).", []string{"state"}, nil)
	smtpAttemptsDesc    = prometheus.NewDesc("revokd_smtp_attempts_total", "Conversations with the SMTP relay by result.", []string{"result"}, nil)
	smtpUpDesc          = prometheus.NewDesc("revokd_smtp_relay_up", "1 when the relay was reachable at the last attempt (or none was made), 0 otherwise.", nil, nil)
	storeUpDesc         = prometheus.NewDesc("revokd_store_up", "1 when the store is ready for the worker's next write.", nil, nil)
	mailboxLeaseHeldDsc = prometheus.NewDesc("revokd_mailbox_lease_held", "1 when this process holds the mailbox, 0 while another does.", nil, nil)
)

// The states each labelled family always shows, zero or not, so that a
// dashboard's query never meets a missing series.
var (
	jobStates     = []string{string(queue.JobPending), string(queue.JobRunning), string(queue.JobDone), string(queue.JobFailed)}
	outboxStates  = []string{queue.OutboxPending, queue.OutboxRunning, queue.OutboxSent, queue.OutboxFailed, queue.OutboxSuppressed}
	sessionStates = []ingest.SessionState{ingest.SessionStarting, ingest.SessionReady, ingest.SessionAuthFailed, ingest.SessionDown}
)

// newVerifyHistogram is the histogram of verification times: most forms
// verify in tens of milliseconds, a fetch of revocation data takes
// seconds, and the time budget caps the rest.
func newVerifyHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "revokd_verification_seconds",
		Help:    "Time to verify one PDF, revocation fetches included.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})
}

// appCollector reads the worker's counters and the store's depths at each
// scrape.
type appCollector struct{ a *app }

func (c *appCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mailsSeenDesc, mailsOverCapDesc, mailsProcessedDesc, mailsRejectedDesc, handlerErrorsDesc,
		mailsFailingDesc, imapConnectsDesc, imapReconnectsDesc, imapAuthFailDesc, imapStateDesc, imapLastPollDesc, requestsDesc,
		jobsDesc, outboxDesc, verificationsDesc, smtpAttemptsDesc, smtpUpDesc, storeUpDesc, mailboxLeaseHeldDsc} {
		ch <- d
	}
}

func (c *appCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	bool01 := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	a := c.a
	s := a.mailbox.Stats()
	h := a.mailbox.Health()
	counter(mailsSeenDesc, s.Fetched)
	counter(mailsOverCapDesc, s.OverCap)
	counter(mailsProcessedDesc, s.Processed)
	counter(mailsRejectedDesc, s.Rejected)
	counter(handlerErrorsDesc, s.HandlerErrors)
	gauge(mailsFailingDesc, float64(s.Failing))
	counter(imapConnectsDesc, s.Connects)
	counter(imapReconnectsDesc, s.Reconnects)
	counter(imapAuthFailDesc, h.AuthFailures)
	for _, st := range sessionStates {
		gauge(imapStateDesc, bool01(h.State == st), string(st))
	}
	last := 0.0
	if !h.LastSuccess.IsZero() {
		last = float64(h.LastSuccess.UnixNano()) / 1e9
	}
	gauge(imapLastPollDesc, last)
	held, _, _ := a.leaseState.get()
	gauge(mailboxLeaseHeldDsc, bool01(held))

	ok, failed := a.relay.Counts()
	counter(smtpAttemptsDesc, ok, "ok")
	counter(smtpAttemptsDesc, failed, "failed")
	_, relayErr := a.relay.Last()
	gauge(smtpUpDesc, bool01(relayErr == nil))

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	gauge(storeUpDesc, bool01(a.store.Ready(ctx) == nil))
	d, err := a.store.Depths(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(requestsDesc, err)
		return
	}
	for _, r := range d.Requests {
		gauge(requestsDesc, float64(r.N), r.State, r.ReasonCode)
	}
	for _, st := range jobStates {
		gauge(jobsDesc, float64(d.Jobs[st]), st)
	}
	for _, st := range outboxStates {
		gauge(outboxDesc, float64(d.Outbox[st]), st)
	}
	for _, st := range queue.VerificationStates {
		gauge(verificationsDesc, float64(d.Verifications[st]), st)
	}
}
