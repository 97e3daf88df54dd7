package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/revokd/revokd/queue"
)

const auditUsage = `usage:
  revokd audit verify [--config F] [--json]
      recompute the audit log's hash chain; prints its head (seq and hash:
      keep them elsewhere to detect rows later cut from the end)

exit status: 0 the chain is intact, 1 it is broken (the first broken seq is
printed), 2 usage, configuration or store error
`

// cmdAudit runs `revokd audit ...`.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return exitUsage
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, auditUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "revokd: unknown audit command %q\n%s", args[0], auditUsage)
	return exitUsage
}

// auditResult is the JSON of `revokd audit verify --json`.
type auditResult struct {
	OK        bool   `json:"ok"`
	Rows      int64  `json:"rows"`
	Seq       int64  `json:"seq"`  // the head, or the last good row when broken
	Hash      string `json:"hash"` // its hash
	BrokenSeq int64  `json:"brokenSeq,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func auditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("audit verify", stdout, stderr)
	configPath := fs.String("config", "", "configuration `file` (revokd.toml)")
	asJSON := fs.Bool("json", false, "print a JSON object")
	if _, code, ok := parseQueueArgs(fs, args, 0, "", stdout, stderr); !ok {
		return code
	}
	store, code := openQueueStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	head, err := store.VerifyAudit(ctx)
	res := auditResult{OK: err == nil, Rows: head.Rows, Seq: head.Seq, Hash: head.Hash}
	var broken *queue.AuditError
	switch {
	case errors.As(err, &broken):
		res.BrokenSeq, res.Reason = broken.Seq, broken.Reason
	case err != nil:
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return exitUsage
	}
	if *asJSON {
		if err := writeJSON(stdout, res); err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
	} else if res.OK {
		fmt.Fprintf(stdout, "audit log intact: %d rows, head seq %d hash %s\n", res.Rows, res.Seq, res.Hash)
	} else {
		fmt.Fprintf(stdout, "audit log BROKEN at seq %d: %s (the %d rows before it verify)\n", res.BrokenSeq, res.Reason, res.Rows)
	}
	if !res.OK {
		return exitRejected
	}
	return exitOK
}
