// Command revokd verifies signed revocation requests received by e-mail and
// queues the accepted ones for the certificate authority. See the README
// for the sub-commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: revokd <command> [flags]

commands:
  demo [--keep] [-v]  run the worker on sample mails (in-memory IMAP, temporary store)
  run --config F     the worker: IMAP -> verify -> decide -> queue
  check --config F   check the configuration, the IMAP login, the SMTP relay and the store
  verify [--config F] [--trust PEM] [--policy OID]... [--crl-dir DIR] [--json] FILE.pdf|FILE.eml|-
                     verify a signed form, or every PDF of a mail
  queue list|show|next|done|failed|retry [--config F] ...
                     the requests, and the CA executor's queue
  queue dismiss|ask --operator NAME --reason TEXT [--json] ID
  queue override --operator NAME --justification TEXT [--json] ID
  queue approve|reject|reverify --operator NAME [--json] ID
                     the operators' review desk without a browser (four eyes on overrides)
  operator add|reset|disable|list [--config F] ...
                     operators' accounts and roles (operator, approver, auditor)
  audit verify [--config F]
                     check the audit log's hash chain
  registry import-certs [--config F] [--crl FILE]... PATH...
  registry import-reps [--config F] FILE.csv
                     load issued certificates and legal representatives
  templates check [--config F]
                     check the mails' templates (notify.templates_dir)
  templates export DIR
                     write the embedded templates to DIR, to edit them
  probe [--config F] [--address A]
                     exit 0 when the running worker's /readyz says ready (container health check)
  version            the version, commit, Go version and dependencies of this build
  help [CMD [SUB]]   a command's flags and an example (also: revokd CMD -h)

exit status: 0 done, 1 refused or failed (see each command), 2 usage or
configuration error
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes shared by the sub-commands.
const (
	exitOK       = 0
	exitRejected = 1
	exitUsage    = 2
)

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "verify":
		// verify holds no state worth a clean shutdown: an interrupt may
		// end it at once, and it is spared the signal watcher's thread.
		return cmdVerify(ctx, args[1:], stdin, stdout, stderr)
	case "version":
		return cmdVersion(args[1:], stdout, stderr)
	case "help":
		return cmdHelp(args[1:], stdout, stderr, func(a []string) int { return run(ctx, a, stdin, stdout, stderr) })
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "check":
		return cmdCheck(ctx, args[1:], stdout, stderr)
	case "registry":
		return cmdRegistry(ctx, args[1:], stdout, stderr)
	case "queue":
		return cmdQueue(ctx, args[1:], stdout, stderr)
	case "audit":
		return cmdAudit(ctx, args[1:], stdout, stderr)
	case "templates":
		return cmdTemplates(args[1:], stdout, stderr)
	case "operator":
		return cmdOperator(ctx, args[1:], stdin, stdout, stderr)
	case "probe":
		return cmdProbe(ctx, args[1:], stdout, stderr)
	case "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "revokd: unknown command %q\n%s", args[0], usage)
	return exitUsage
}
