package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready {
			http.Error(w, "store: not answering", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name     string
		ready    bool
		args     []string
		wantCode int
		wantErr  string
	}{
		{"ok/ready", true, []string{"--address", addr}, exitOK, ""},
		{"fail/not-ready", false, []string{"--address", addr}, exitRejected, "store: not answering"},
		{"fail/nobody-listens", true, []string{"--address", "127.0.0.1:1"}, exitRejected, "probe:"},
		{"fail/argument", true, []string{"--address", addr, "x"}, exitUsage, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready = tt.ready
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"probe"}, tt.args...), nil, &out, &errOut)
			if code != tt.wantCode || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("probe %q: exit %d, stderr %q; want %d with %q", tt.args, code, errOut.String(), tt.wantCode, tt.wantErr)
			}
		})
	}
}
