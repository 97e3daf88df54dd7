package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/review"
)

const queueReviewUsage = `  revokd queue dismiss [--config F] --operator NAME --reason TEXT [--json] ID
      confirm the refusal of a request; the sender is told (TEXT: one of the
      desk's reasons, or any text)
  revokd queue ask [--config F] --operator NAME --reason TEXT [--json] ID
      close the request and ask the sender for a new form; TEXT says what to fix
  revokd queue override [--config F] --operator NAME --justification TEXT [--json] ID
      propose to accept a refused request: a different approver must approve
      it within 24 hours
  revokd queue approve [--config F] --operator NAME [--json] ID
  revokd queue reject [--config F] --operator NAME [--reason TEXT] [--json] ID
      decide the pending override (approvers; never its proposer); approving
      queues the revocation
  revokd queue reverify [--config F] --operator NAME [--json] ID
      verify the stored PDF and decide again at the original validation time
`

// reviewResult is what a review command prints with --json.
type reviewResult struct {
	RequestID int64           `json:"requestId"`
	Action    string          `json:"action"`
	Operator  string          `json:"operator"`
	State     string          `json:"state"`
	Override  *queue.Override `json:"override,omitempty"`
	Passes    *bool           `json:"passes,omitempty"`
	Code      string          `json:"reasonCode,omitempty"`
}

// queueReview runs `revokd queue dismiss|ask|override|approve|reject|reverify`.
func queueReview(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) int {
	fs, configPath := queueFlags(cmd, stdout, stderr)
	name := fs.String("operator", "", "the operator's account `NAME` (required)")
	asJSON := fs.Bool("json", false, "print a JSON object")
	var reason, justification *string
	switch cmd {
	case "dismiss", "ask", "reject":
		reason = fs.String("reason", "", "why (required but for reject)")
	case "override":
		justification = fs.String("justification", "", "why the refusal must be overridden (required)")
	}
	pos, code, ok := parseQueueArgs(fs, args, 1, "request ID", stdout, stderr)
	if !ok {
		return code
	}
	id, ok := parseID(pos[0], "request ID", stderr)
	if !ok {
		return exitUsage
	}
	if *name == "" {
		fmt.Fprintf(stderr, "revokd: queue %s: --operator is required\n", cmd)
		return exitUsage
	}
	if reason != nil && *reason == "" && cmd != "reject" {
		fmt.Fprintf(stderr, "revokd: queue %s: --reason is required\n", cmd)
		return exitUsage
	}
	if justification != nil && *justification == "" {
		fmt.Fprintln(stderr, "revokd: queue override: --justification is required")
		return exitUsage
	}
	store, cfg, code := openConfiguredStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	var reexaminer review.Reexaminer
	if cmd == "reverify" {
		w, err := newWorker(cfg, store, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
		reexaminer = w
	}
	svc := newReviewService(cfg, store, reexaminer)
	a := review.Actor{Name: *name, OSUser: osUser(), Via: "cli"}
	res := reviewResult{RequestID: id, Action: cmd, Operator: *name}
	var (
		text string
		err  error
	)
	switch cmd {
	case "dismiss":
		r, more := *reason, ""
		if !review.IsDismissReason(r) {
			r, more = "other", *reason
		}
		err = svc.Dismiss(ctx, a, id, r, more)
		text = fmt.Sprintf("request %d dismissed; the sender will be told", id)
	case "ask":
		err = svc.AskNewForm(ctx, a, id, *reason)
		text = fmt.Sprintf("request %d closed; the sender is asked for a new form", id)
	case "override":
		var o queue.Override
		o, err = svc.Override(ctx, a, id, *justification)
		res.Override = &o
		text = fmt.Sprintf("override %d of request %d proposed: it waits for a different approver until %s", o.ID, id,
			o.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	case "approve":
		var o queue.Override
		o, err = svc.Approve(ctx, a, id)
		res.Override = &o
		text = fmt.Sprintf("override %d approved: request %d is overridden, revocation job %d queued for %s", o.ID, id, o.JobID, o.Serial)
	case "reject":
		var o queue.Override
		o, err = svc.Reject(ctx, a, id, *reason)
		res.Override = &o
		text = fmt.Sprintf("override %d rejected: request %d stays refused", o.ID, id)
	case "reverify":
		var r queue.Reverification
		r, err = svc.Reverify(ctx, a, id)
		passes := r.Accepted
		res.Passes, res.Code = &passes, string(r.ReasonCode)
		if passes {
			text = fmt.Sprintf("request %d passes now; it stays refused until an override accepts it", id)
		} else {
			text = fmt.Sprintf("request %d is still refused: %s", id, r.ReasonCode)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		if review.IsRefused(err) {
			return exitRejected
		}
		return exitUsage
	}
	if d, err := store.Request(ctx, id); err == nil {
		res.State = string(d.State)
	}
	if res.Override != nil && res.Override.ID == 0 {
		res.Override = nil
	}
	if *asJSON {
		if err := writeJSON(stdout, res); err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	fmt.Fprintln(stdout, text)
	return exitOK
}
