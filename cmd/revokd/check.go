package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/revokd/revokd/queue"
)

// checkTimeout bounds each server `revokd check` tries.
const checkTimeout = 30 * time.Second

// cmdCheck runs `revokd check`: the configuration as run checks it, then
// the IMAP login, the SMTP relay and the store, printing what works.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", stdout, stderr)
	configPath := fs.String("config", "revokd.toml", "configuration `file`")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "revokd: check takes no arguments, got %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := loadRunConfig(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "revokd:", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "ok    configuration %s\n", *configPath)
	code := exitOK
	report := func(what string, err error, okText string) {
		if err != nil {
			code = exitRejected
			fmt.Fprintf(stdout, "FAIL  %s: %v\n", what, err)
			return
		}
		fmt.Fprintf(stdout, "ok    %s: %s\n", what, okText)
	}
	log := slog.New(slog.DiscardHandler)

	// The IMAP login, as run makes it (without the store).
	mbox, err := newMailbox(cfg, log, nil)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, checkTimeout)
		res, perr := mbox.Probe(pctx)
		cancel()
		mode := "IDLE"
		if !res.IDLE {
			mode = "polling every " + cfg.IMAP.PollInterval.String()
		}
		err = perr
		report("imap "+cfg.IMAP.Address, err, fmt.Sprintf("logged in as %s, %s holds %d messages, %s", cfg.IMAP.Username, cfg.IMAP.Mailbox, res.Messages, mode))
	} else {
		report("imap "+cfg.IMAP.Address, err, "")
	}

	// The relay: greeting, TLS, AUTH.
	if cfg.SMTP.Address == "" {
		fmt.Fprintln(stdout, "warn  smtp: smtp.address is empty: acknowledgements and results would stay in the outbox")
	} else {
		snd, err := newSender(cfg, nil, log)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, checkTimeout)
			err = snd.Probe(pctx)
			cancel()
		}
		report("smtp "+cfg.SMTP.Address, err, "greeting, "+cfg.SMTP.Security+orAuth(cfg.SMTP.Username)+" accepted")
	}

	// The store: opened and ready when it exists; otherwise run creates it.
	db := filepath.Join(cfg.DataDir, queue.DatabaseFile)
	if _, err := os.Stat(db); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stdout, "ok    store: none yet at %s; revokd run creates it (the folder is writable)\n", db)
	} else {
		store, err := queue.OpenWith(ctx, cfg.DataDir, cfg.storeOptions())
		if err == nil {
			err = store.Ready(ctx)
			var v int
			if err == nil {
				v, err = store.SchemaVersion(ctx)
			}
			store.Close()
			report("store "+db, err, fmt.Sprintf("readable and writable, schema version %d", v))
		} else {
			report("store "+db, err, "")
		}
	}
	return code
}

func orAuth(username string) string {
	if username == "" {
		return ""
	}
	return ", AUTH as " + username
}
