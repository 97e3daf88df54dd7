package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probeTimeout bounds the probe: a container engine runs it every few
// seconds and counts a hung answer as a failure.
const probeTimeout = 5 * time.Second

// cmdProbe asks a running worker's /readyz whether it is ready: the
// container image has no shell and no curl, so the health check is the
// binary itself. Exit 0 ready, 1 not ready or not answering, 2 usage.
func cmdProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("probe", stdout, stderr)
	configPath := fs.String("config", "", "configuration file (its http.address)")
	address := fs.String("address", "", "host:port of the worker's HTTP server (default: http.address of --config)")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "revokd: probe takes no arguments, got %q\n", fs.Args())
		return exitUsage
	}
	addr := *address
	if addr == "" {
		cfg, err := loadConfig(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "revokd: %v\n", err)
			return exitUsage
		}
		addr = cfg.HTTP.Address
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		fmt.Fprintf(stderr, "revokd: probe: %v\n", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "revokd: probe: %v\n", err)
		return exitRejected
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "revokd: not ready (%s): %s\n", resp.Status, body)
		return exitRejected
	}
	fmt.Fprintln(stdout, "ready")
	return exitOK
}
