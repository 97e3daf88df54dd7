package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/review"
)

const operatorUsage = `usage:
  revokd operator add [--config F] --role operator|approver|auditor NAME
      create an account; the initial password is read from standard input
      (the first line; a second identical line is accepted); prints the
      second factor's enrolment, an otpauth:// URI for an authenticator app
  revokd operator reset [--config F] NAME
      a new password (standard input, as for add) and a new TOTP key
  revokd operator disable [--config F] NAME
      the account can no longer log in nor act; its sessions end
  revokd operator list [--config F] [--json]

roles: operator (dismiss, ask for a new form, propose overrides, re-verify,
retry jobs), approver (the same, and approve or reject overrides proposed by
someone else), auditor (reads everything, changes nothing)

exit status: 0 done, 1 refused (unknown account, name taken, password too
short), 2 usage, configuration or store error
`

// totpIssuer names the desk in authenticator apps.
const totpIssuer = "revokd"

func cmdOperator(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, operatorUsage)
		return exitUsage
	}
	fs := newFlagSet("operator "+args[0], stdout, stderr)
	configPath := fs.String("config", "", "configuration `file` (revokd.toml)")
	switch args[0] {
	case "add", "reset":
		var role *string
		if args[0] == "add" {
			role = fs.String("role", "", "operator, approver or auditor (required)")
		}
		pos, code, ok := parseQueueArgs(fs, args[1:], 1, "account NAME", stdout, stderr)
		if !ok {
			return code
		}
		name := pos[0]
		if err := checkOperatorName(name); err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
		if role != nil {
			if _, err := review.ParseRole(*role); err != nil {
				fmt.Fprintf(stderr, "revokd: --role: %v\n", err)
				return exitUsage
			}
		}
		pw, err := readNewPassword(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitRejected
		}
		hash, err := review.HashPassword(pw, review.DefaultArgon2)
		if err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
		secret, err := review.NewTOTPSecret()
		if err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
		store, code := openQueueStore(ctx, *configPath, stderr)
		if store == nil {
			return code
		}
		defer store.Close()
		if role != nil {
			err = store.AddOperator(ctx, queue.Operator{Name: name, Role: *role, PasswordHash: hash, TOTPSecret: secret}, adminActor())
		} else {
			err = store.ResetOperator(ctx, name, hash, secret, adminActor())
		}
		if err != nil {
			return operatorFailure(err, stderr)
		}
		fmt.Fprintln(stdout, review.TOTPURI(totpIssuer, name, secret))
		return exitOK
	case "disable":
		pos, code, ok := parseQueueArgs(fs, args[1:], 1, "account NAME", stdout, stderr)
		if !ok {
			return code
		}
		store, code := openQueueStore(ctx, *configPath, stderr)
		if store == nil {
			return code
		}
		defer store.Close()
		if err := store.DisableOperator(ctx, pos[0], adminActor()); err != nil {
			return operatorFailure(err, stderr)
		}
		fmt.Fprintf(stdout, "operator %s disabled\n", pos[0])
		return exitOK
	case "list":
		asJSON := fs.Bool("json", false, "print a JSON array")
		if _, code, ok := parseQueueArgs(fs, args[1:], 0, "", stdout, stderr); !ok {
			return code
		}
		store, code := openQueueStore(ctx, *configPath, stderr)
		if store == nil {
			return code
		}
		defer store.Close()
		ops, err := store.Operators(ctx)
		if err != nil {
			return operatorFailure(err, stderr)
		}
		return printOperators(stdout, stderr, ops, *asJSON)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, operatorUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "revokd: unknown operator command %q\n%s", args[0], operatorUsage)
	return exitUsage
}

// operatorJSON is one account of `operator list --json`: never the
// credentials.
type operatorJSON struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	TOTP      bool      `json:"totp"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func printOperators(stdout, stderr io.Writer, ops []queue.Operator, asJSON bool) int {
	if asJSON {
		out := make([]operatorJSON, len(ops))
		for i, o := range ops {
			out[i] = operatorJSON{o.Name, o.Role, o.Disabled, o.TOTPSecret != "", o.CreatedAt.UTC(), o.UpdatedAt.UTC()}
		}
		if err := writeJSON(stdout, out); err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	if len(ops) == 0 {
		fmt.Fprintln(stdout, "no operators")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tCREATED")
	for _, o := range ops {
		state := "enabled"
		if o.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Name, o.Role, state, o.CreatedAt.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return exitUsage
	}
	return exitOK
}

func operatorFailure(err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "revokd: %v\n", err)
	if errors.Is(err, queue.ErrNotFound) || errors.Is(err, queue.ErrOperatorExists) {
		return exitRejected
	}
	return exitUsage
}

// checkOperatorName keeps account names printable and short: they appear
// in the audit log and on every page.
func checkOperatorName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("account name %q: 1 to 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return fmt.Errorf("account name %q: letters, digits and . _ - @ only", name)
		}
	}
	return nil
}

// maxPasswordLine bounds what is read from standard input.
const maxPasswordLine = 4096

// readNewPassword reads the password from the first line of r; a second
// line, when present, must repeat it (a terminal's confirmation).
func readNewPassword(r io.Reader) (string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 2*maxPasswordLine+2))
	sc.Buffer(make([]byte, 0, 256), maxPasswordLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		return "", errors.New("no password on standard input (the first line is the password)")
	}
	pw := strings.TrimSuffix(sc.Text(), "\r")
	if sc.Scan() {
		if again := strings.TrimSuffix(sc.Text(), "\r"); again != pw {
			return "", errors.New("the second line of standard input does not repeat the password")
		}
	}
	if err := review.CheckPasswordPolicy(pw); err != nil {
		return "", err
	}
	return pw, nil
}

// osUser is the system user running the command, recorded beside the
// operator's name.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// adminActor names whoever manages accounts from the server's shell.
func adminActor() string { return "admin:" + osUser() }
