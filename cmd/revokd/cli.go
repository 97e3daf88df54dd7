package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// commandHelp is what `revokd CMD -h` and `revokd help CMD` print besides
// the flags: the synopsis, a sentence, and one example.
type commandHelp struct {
	synopsis string
	summary  string
	example  string
}

// commandHelps documents every leaf command, by its name as typed.
var commandHelps = map[string]commandHelp{
	"run": {
		"revokd run [--config F]",
		"The worker: read the mailbox, verify, decide, queue, answer. The configuration is checked whole before anything is created;\nexit 2 lists every problem by key. Serves /healthz, /readyz and /metrics on http.address.",
		"revokd run --config /etc/revokd/revokd.toml",
	},
	"check": {
		"revokd check [--config F]",
		"Check the configuration as run does, then try the IMAP login, the SMTP relay (greeting, TLS, AUTH) and the store,\nand print what works. Exit 0 all good, 1 a server or the store does not answer as it should, 2 the configuration is wrong.",
		"revokd check --config /etc/revokd/revokd.toml",
	},
	"demo": {
		"revokd demo [--keep] [--serve] [-v]",
		"Run the real worker on sample mails: an in-memory IMAP server, a throwaway test CA and a temporary store.\nWith --serve, then serve the operators' review desk on loopback with demo accounts (printed) until interrupted.",
		"revokd demo -v",
	},
	"verify": {
		"revokd verify [--config F] [--trust PEM]... [--policy OID]... [--crl-dir DIR] [--offline] [--time T] [--json] [-v] FILE.pdf|FILE.eml|-",
		"Verify a signed form, or every PDF attached to a mail; - reads standard input.\nExit 0 accepted, 1 refused, 2 usage or input error.",
		"revokd verify --trust roots.pem --crl-dir crl/ demande.pdf",
	},
	"probe": {
		"revokd probe [--config F] [--address host:port]",
		"Ask the running worker's /readyz (at http.address of --config, or --address) whether it is ready.\nExit 0 ready, 1 not ready or not answering, 2 usage. The container image's HEALTHCHECK: it has no shell and no curl.",
		"revokd probe --config /etc/revokd/revokd.toml",
	},
	"version": {
		"revokd version",
		"Print revokd's version, the commit it was built from, the Go version and the dependencies that matter.",
		"revokd version",
	},
	"queue list": {
		"revokd queue list [--config F] [--all] [--state S] [--limit N] [--json]",
		"The requests, newest first; --all adds the mails that were not requests.",
		"revokd queue list --config /etc/revokd/revokd.toml --state rejected --json",
	},
	"queue show": {
		"revokd queue show [--config F] [--json] ID",
		"One request: its mail, evidence, verification, decision, job, notifications and audit rows.",
		"revokd queue show --config /etc/revokd/revokd.toml 42",
	},
	"queue next": {
		"revokd queue next [--config F] [--lease 5m] [--actor NAME]",
		"Hand the next revocation job to the CA's executor: one JSON object, or null when no job is due (exit 0 either way).",
		"revokd queue next --config /etc/revokd/revokd.toml --lease 5m",
	},
	"queue done": {
		"revokd queue done [--config F] [--actor NAME] JOB_ID",
		"The CA revoked the job's certificate.",
		"revokd queue done --config /etc/revokd/revokd.toml 12",
	},
	"queue failed": {
		"revokd queue failed [--config F] [--actor NAME] [--attempt A] [--permanent | --snooze D] --error TEXT JOB_ID",
		"The executor could not revoke: the job is retried after [queue] retry_delay, doubled each time, and failed after [queue] max_attempts;\n--permanent fails it at once (the CA refuses for good), --snooze D hands it out again after D without counting the attempt.",
		`revokd queue failed --config /etc/revokd/revokd.toml --attempt 1 --error "HSM offline" 12`,
	},
	"queue retry": {
		"revokd queue retry [--config F] [--actor NAME] JOB_ID",
		"Put a failed job back in the queue with a fresh count of attempts.",
		"revokd queue retry --config /etc/revokd/revokd.toml 12",
	},
	"queue dismiss": {
		"revokd queue dismiss [--config F] --operator NAME --reason TEXT [--json] ID",
		"Confirm the refusal of a refused request; the sender is told. Exit 1 when the account, its role or the request's state does not allow it.",
		`revokd queue dismiss --config /etc/revokd/revokd.toml --operator alice --reason "forged or altered form" 42`,
	},
	"queue ask": {
		"revokd queue ask [--config F] --operator NAME --reason TEXT [--json] ID",
		"Close a refused request and ask its sender for a new form; TEXT, what to fix, is sent to them.",
		`revokd queue ask --config /etc/revokd/revokd.toml --operator alice --reason "the SIREN is missing" 42`,
	},
	"queue override": {
		"revokd queue override [--config F] --operator NAME --justification TEXT [--json] ID",
		"Propose to accept a refused request: a different operator with the approver role must approve within 24 hours.",
		`revokd queue override --config /etc/revokd/revokd.toml --operator alice --justification "mandate confirmed, ticket 4711" 42`,
	},
	"queue approve": {
		"revokd queue approve [--config F] --operator NAME [--json] ID",
		"Approve the pending override of a request (approvers; never its proposer): the revocation is queued.",
		"revokd queue approve --config /etc/revokd/revokd.toml --operator bruno 42",
	},
	"queue reject": {
		"revokd queue reject [--config F] --operator NAME [--reason TEXT] [--json] ID",
		"Reject the pending override of a request (approvers; never its proposer): the request stays refused.",
		"revokd queue reject --config /etc/revokd/revokd.toml --operator bruno 42",
	},
	"queue reverify": {
		"revokd queue reverify [--config F] --operator NAME [--json] ID",
		"Verify the stored PDF and decide again at the request's original validation time, with today's trust anchors and registry.",
		"revokd queue reverify --config /etc/revokd/revokd.toml --operator alice 42",
	},
	"operator add": {
		"revokd operator add [--config F] --role operator|approver|auditor NAME",
		"Create an account. The password is the first line of standard input (a second identical line is accepted);\nprints the TOTP enrolment, an otpauth:// URI.",
		"revokd operator add --config /etc/revokd/revokd.toml --role approver bruno < initial-password.txt",
	},
	"operator reset": {
		"revokd operator reset [--config F] NAME",
		"A new password (standard input, as for add) and a new TOTP key; prints the new otpauth:// URI.",
		"revokd operator reset --config /etc/revokd/revokd.toml bruno < new-password.txt",
	},
	"operator disable": {
		"revokd operator disable [--config F] NAME",
		"Disable an account: it can no longer log in nor act, and its sessions end at their next request.",
		"revokd operator disable --config /etc/revokd/revokd.toml bruno",
	},
	"operator list": {
		"revokd operator list [--config F] [--json]",
		"The accounts, their roles and states (never their credentials).",
		"revokd operator list --config /etc/revokd/revokd.toml",
	},
	"audit verify": {
		"revokd audit verify [--config F] [--json]",
		"Recompute the audit log's hash chain and print its head (keep it elsewhere to detect rows cut from the end).",
		"revokd audit verify --config /etc/revokd/revokd.toml",
	},
	"registry import-certs": {
		"revokd registry import-certs [--config F] [--crl FILE]... PATH...",
		"Register the certificates in PATH (PEM or DER files, folders walked); those a --crl lists are registered as revoked.",
		"revokd registry import-certs --config /etc/revokd/revokd.toml --crl ca.crl /var/lib/ca/issued/",
	},
	"registry import-reps": {
		"revokd registry import-reps [--config F] FILE.csv",
		"Register legal representatives from a CSV with the header siren,surname,given_name,email,valid_from,valid_to.",
		"revokd registry import-reps --config /etc/revokd/revokd.toml representatives.csv",
	},
}

// newFlagSet returns the flag set of the named command. Its errors go to
// stderr with a pointer to the help; -h is parseFlags' business.
func newFlagSet(name string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // parseFlags prints what fits
	return fs
}

// parseFlags parses args. On -h it prints the command's help to stdout and
// returns exit 0; on a bad flag it points to the help and returns exit 2.
// ok is true when the command should go on.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	return flagOutcome(fs, fs.Parse(args), stdout)
}

// flagOutcome turns a parse error into the exit code, printing the help for
// -h.
func flagOutcome(fs *flag.FlagSet, err error, stdout io.Writer) (int, bool) {
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, fs)
		return exitOK, false
	default:
		fmt.Fprintf(fs.Output(), "run 'revokd help %s' for its flags\n", fs.Name())
		return exitUsage, false
	}
}

// printHelp prints a command's synopsis, summary, flags and example.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	h := commandHelps[fs.Name()]
	fmt.Fprintf(w, "usage: %s\n\n", orDefault(h.synopsis, "revokd "+fs.Name()))
	if h.summary != "" {
		fmt.Fprintf(w, "%s\n\n", h.summary)
	}
	var flags strings.Builder
	out := fs.Output()
	fs.SetOutput(&flags)
	fs.PrintDefaults()
	fs.SetOutput(out)
	if flags.Len() > 0 {
		fmt.Fprintf(w, "flags:\n%s\n", flags.String())
	}
	if h.example != "" {
		fmt.Fprintf(w, "example:\n  %s\n", h.example)
	}
}

// cmdHelp runs `revokd help [CMD [SUB]]`: the command's own -h.
func cmdHelp(args []string, stdout, stderr io.Writer, dispatch func([]string) int) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	return dispatch(append(append([]string{}, args...), "-h"))
}

// depsOfNote are the modules whose version matters to someone reading a
// report of revokd's: the parsers of untrusted input, the protocols, the
// store and the metrics.
var depsOfNote = []string{
	"github.com/emersion/go-imap/v2",
	"github.com/emersion/go-message",
	"github.com/emersion/go-smtp",
	"github.com/pdfcpu/pdfcpu",
	"go.mozilla.org/pkcs7",
	"modernc.org/sqlite",
	"github.com/prometheus/client_golang",
	"golang.org/x/crypto",
}

// cmdVersion runs `revokd version`.
func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stdout, stderr)
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "revokd: version takes no arguments, got %q\n", fs.Args())
		return exitUsage
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(stdout, "revokd (no build information)")
		return exitOK
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	commit := orDefault(settings["vcs.revision"], "unknown")
	if settings["vcs.modified"] == "true" {
		commit += " (modified)"
	}
	fmt.Fprintf(stdout, "revokd %s\n", orDefault(bi.Main.Version, "(devel)"))
	fmt.Fprintf(stdout, "commit  %s", commit)
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(stdout, " %s", t)
	}
	fmt.Fprintf(stdout, "\ngo      %s %s/%s cgo=%s\n", bi.GoVersion, settings["GOOS"], settings["GOARCH"], orDefault(settings["CGO_ENABLED"], "?"))
	fmt.Fprintln(stdout, "dependencies:")
	for _, want := range depsOfNote {
		for _, d := range bi.Deps {
			if d.Path != want {
				continue
			}
			if d.Replace != nil {
				d = d.Replace
			}
			fmt.Fprintf(stdout, "  %s %s\n", want, d.Version)
		}
	}
	return exitOK
}
