package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/revokd/revokd/notify"
)

// cmdTemplates checks the templates a configuration names, or writes the
// embedded ones to a folder for an operator to edit.
func cmdTemplates(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: revokd templates check [--config F] | export DIR\n")
		return exitUsage
	}
	flags := flag.NewFlagSet("templates "+args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	switch args[0] {
	case "check":
		configPath := flags.String("config", "revokd.toml", "configuration `file`")
		if err := flags.Parse(args[1:]); err != nil || flags.NArg() != 0 {
			return exitUsage
		}
		cfg, err := loadConfig(*configPath)
		if err != nil {
			fmt.Fprintln(stderr, "revokd:", err)
			return exitUsage
		}
		if _, err := loadTemplates(cfg); err != nil {
			fmt.Fprintln(stderr, "revokd:", err)
			return exitRejected
		}
		where := "the embedded templates"
		if cfg.Notify.TemplatesDir != "" {
			where = cfg.Notify.TemplatesDir
		}
		fmt.Fprintf(stdout, "templates ok: %s (every kind and code, French and English, executed on sample data)\n", where)
		return exitOK
	case "export":
		if err := flags.Parse(args[1:]); err != nil || flags.NArg() != 1 {
			fmt.Fprint(stderr, "usage: revokd templates export DIR\n")
			return exitUsage
		}
		if err := exportTemplates(flags.Arg(0)); err != nil {
			fmt.Fprintln(stderr, "revokd:", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "wrote %d template files to %s; set notify.templates_dir to it\n", len(notify.TemplateFiles()), flags.Arg(0))
		return exitOK
	}
	fmt.Fprintf(stderr, "revokd: unknown templates command %q\n", args[0])
	return exitUsage
}

// exportTemplates writes the embedded templates to dir, never over an
// existing file (an operator's edits).
func exportTemplates(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range notify.TemplateFiles() {
		b, err := notify.DefaultTemplateFile(name)
		if err != nil {
			return err
		}
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists: not overwritten", p)
		}
		if err != nil {
			return err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
