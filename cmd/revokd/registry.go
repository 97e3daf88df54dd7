package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/revokd/revokd/authorize"
	"github.com/revokd/revokd/queue"
)

const registryUsage = `usage:
  revokd registry import-certs [--config F] [--crl FILE]... PATH...
      register the certificates in PATH (PEM or DER files, folders walked
      recursively); certificates listed on a --crl file are registered as
      revoked
  revokd registry import-reps [--config F] FILE.csv
      register legal representatives from a CSV with the header
      siren,surname,given_name,email,valid_from,valid_to

exit status: 0 everything imported, 1 some items refused (listed on stdout),
2 usage or I/O error
`

// cmdRegistry runs `revokd registry ...`.
func cmdRegistry(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, registryUsage)
		return exitUsage
	}
	switch args[0] {
	case "import-certs":
		return registryImportCerts(ctx, args[1:], stdout, stderr)
	case "import-reps":
		return registryImportReps(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, registryUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "revokd: unknown registry command %q\n%s", args[0], registryUsage)
	return exitUsage
}

// stringList is a flag that may be repeated.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// parseInterspersed parses flags wherever they stand among the positional
// arguments (`import-certs certs/ --crl ca.crl`), and returns the
// positional ones; everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func registryImportCerts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("registry import-certs", stdout, stderr)
	configPath := fs.String("config", "", "configuration `file` (revokd.toml)")
	var crls stringList
	fs.Var(&crls, "crl", "CRL `file` (PEM or DER) saying which certificates are revoked; may be repeated")
	paths, err := parseInterspersed(fs, args)
	if code, ok := flagOutcome(fs, err, stdout); !ok {
		return code
	}
	if len(paths) == 0 {
		fmt.Fprintf(stderr, "revokd: registry import-certs: no certificate file or folder given\n%s", registryUsage)
		return exitUsage
	}
	store, code := openRegistryStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	res, err := authorize.ImportCertificates(ctx, store, paths, crls)
	return reportImport("certificates", res, err, stdout, stderr)
}

func registryImportReps(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("registry import-reps", stdout, stderr)
	configPath := fs.String("config", "", "configuration `file` (revokd.toml)")
	files, err := parseInterspersed(fs, args)
	if code, ok := flagOutcome(fs, err, stdout); !ok {
		return code
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "revokd: registry import-reps: want exactly one CSV file, got %d\n%s", len(files), registryUsage)
		return exitUsage
	}
	f, err := os.Open(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return exitUsage
	}
	defer f.Close()
	store, code := openRegistryStore(ctx, *configPath, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	res, err := authorize.ImportRepresentatives(ctx, store, f)
	for i := range res.Refusals {
		res.Refusals[i].File = files[0]
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", files[0], err)
	}
	return reportImport("representatives", res, err, stdout, stderr)
}

// openRegistryStore opens the store the configuration names, or reports
// why not and returns the exit code.
func openRegistryStore(ctx context.Context, configPath string, stderr io.Writer) (*queue.Store, int) {
	cfg, err := loadConfig(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return nil, exitUsage
	}
	store, err := queue.OpenWith(ctx, cfg.DataDir, cfg.storeOptions())
	if err != nil {
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return nil, exitUsage
	}
	return store, exitOK
}

// redactURL drops what follows the scheme, where a password may be.
func redactURL(u string) string {
	if scheme, _, ok := strings.Cut(u, "://"); ok {
		return scheme + "://..."
	}
	return "..."
}

// reportImport prints what an import did (also when it stopped on an
// error: what was committed stays) and returns the exit code.
func reportImport(what string, res authorize.ImportResult, err error, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "%s: %d added, %d changed, %d unchanged, %d refused\n",
		what, res.Added, res.Changed, res.Unchanged, res.Refused)
	for _, r := range res.Refusals {
		fmt.Fprintf(stdout, "refused %s\n", r)
	}
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "revokd: import interrupted\n")
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "revokd: %v\n", err)
		return exitUsage
	case res.Refused > 0:
		return exitRejected
	}
	return exitOK
}
