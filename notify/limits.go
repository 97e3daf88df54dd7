package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/revokd/revokd/queue"
)

// Limits bound the answers sent to the senders of mails, so that a flood
// of mails with forged From: headers cannot turn the desk into a mail
// cannon aimed at someone else: per address, per domain and in all, over
// a sliding window. A mail over a limit is not sent but marked
// suppressed, with the reason, in the outbox and the audit log.
//
// Only the answers to incoming mail count and are limited
// (acknowledgement, result, not a request). Revocation confirmations,
// the review desk's mails and operator alerts are not: each follows an
// action of the CA's own staff.
type Limits struct {
	// PerAddress, PerDomain and Total are the most answers sent in one
	// Window to one address, to one domain, and to everyone. Zero means
	// the default; a negative value, no limit.
	PerAddress int
	PerDomain  int
	Total      int
	// Window is the sliding window; zero means DefaultLimitWindow.
	Window time.Duration
}

// The default limits. A person who sends a request gets two answers
// (acknowledgement and result); ten in an hour lets them correct and
// resend a form four times. A domain gets fifty: an organisation's
// several holders on a bad day. Five hundred in all is more than the
// desk's busiest hour and stops a flood from costing the relay's
// reputation.
const (
	DefaultLimitPerAddress = 10
	DefaultLimitPerDomain  = 50
	DefaultLimitTotal      = 500
	DefaultLimitWindow     = time.Hour
)

// NotARequestInterval is how often at most an address is told how to
// make a request: an auto-responder or a confused sender gets it once a
// day.
const NotARequestInterval = 24 * time.Hour

// limitedKinds are the answers to incoming mail.
var limitedKinds = []string{string(KindAcknowledgement), string(KindResult), string(KindNotARequest)}

func (l Limits) withDefaults() (Limits, error) {
	for _, p := range []struct {
		v   *int
		def int
	}{{&l.PerAddress, DefaultLimitPerAddress}, {&l.PerDomain, DefaultLimitPerDomain}, {&l.Total, DefaultLimitTotal}} {
		if *p.v == 0 {
			*p.v = p.def
		}
	}
	if l.Window == 0 {
		l.Window = DefaultLimitWindow
	}
	if l.Window < 0 {
		return l, fmt.Errorf("limit window %v must be positive", l.Window)
	}
	return l, nil
}

// Counter is what the limits need of the store; *queue.Store has it.
type Counter interface {
	CountSent(ctx context.Context, q queue.SentQuery) (int, error)
}

// suppression returns why row must not be sent, or "" when it may be.
func (l Limits) suppression(ctx context.Context, c Counter, row *queue.OutboxRow, now time.Time) (string, error) {
	limited := false
	for _, k := range limitedKinds {
		limited = limited || row.Kind == k
	}
	if !limited {
		return "", nil
	}
	to := strings.TrimSpace(row.To)
	if row.Kind == string(KindNotARequest) {
		n, err := c.CountSent(ctx, queue.SentQuery{Since: now.Add(-NotARequestInterval), To: to, Kinds: []string{row.Kind}})
		if err != nil {
			return "", err
		}
		if n > 0 {
			return fmt.Sprintf("suppressed: %q was already told how to make a request in the last %v", to, NotARequestInterval), nil
		}
	}
	domain := ""
	if at := strings.LastIndexByte(to, '@'); at >= 0 {
		domain = strings.TrimSuffix(to[at+1:], ">")
	}
	since := now.Add(-l.Window)
	for _, lim := range []struct {
		max  int
		skip bool
		q    queue.SentQuery
		what string
	}{
		{l.PerAddress, to == "", queue.SentQuery{Since: since, To: to, Kinds: limitedKinds}, fmt.Sprintf("to %q", to)},
		{l.PerDomain, domain == "", queue.SentQuery{Since: since, Domain: domain, Kinds: limitedKinds}, fmt.Sprintf("to the domain %q", domain)},
		{l.Total, false, queue.SentQuery{Since: since, Kinds: limitedKinds}, "in all"},
	} {
		if lim.max < 0 || lim.skip {
			continue
		}
		n, err := c.CountSent(ctx, lim.q)
		if err != nil {
			return "", err
		}
		if n >= lim.max {
			return fmt.Sprintf("suppressed: %d answers sent %s in the last %v (limit %d)", n, lim.what, l.Window, lim.max), nil
		}
	}
	return "", nil
}
