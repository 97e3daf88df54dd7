package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/revokd/revokd/queue"
	"github.com/revokd/revokd/review"
)

// demoOperators are the demo's accounts, one per role. Their passwords
// and TOTP keys are printed: they exist only in the demo's throwaway
// store.
var demoOperators = []struct{ name, role, password, secret string }{
	{"alice", review.RoleOperator, "alice-demo-password", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"},
	{"bruno", review.RoleApprover, "bruno-demo-password", "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"},
	{"chloe", review.RoleApprover, "chloe-demo-password", "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK"},
	{"denis", review.RoleAuditor, "denis-demo-password", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"},
}

// serveDemoDesk adds the demo accounts and serves the review desk on a
// loopback port until ctx ends.
func serveDemoDesk(ctx context.Context, cfg *Config, a *app, log *slog.Logger, out io.Writer) error {
	for _, o := range demoOperators {
		hash, err := review.HashPassword(o.password, review.DefaultArgon2)
		if err != nil {
			return err
		}
		if err := a.store.AddOperator(ctx, queue.Operator{Name: o.name, Role: o.role, PasswordHash: hash, TOTPSecret: o.secret}, "demo"); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	if err := mountDesk(mux, cfg, a.store, a.worker, log); err != nil {
		ln.Close()
		return err
	}
	stop, url := serveHTTP(ln, mux, nil)
	defer stop(context.WithoutCancel(ctx))
	fmt.Fprintf(out, "\nThe operators' review desk: %s\n\nDemo accounts (password, then the TOTP key for an authenticator app or `oathtool --totp -b KEY`):\n", url)
	for _, o := range demoOperators {
		fmt.Fprintf(out, "  %-6s %-9s %s  %s\n", o.name, o.role, o.password, o.secret)
	}
	fmt.Fprintln(out, "\nInterrupt (Ctrl-C) to stop.")
	<-ctx.Done()
	return nil
}
