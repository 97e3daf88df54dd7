package main

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"
)

// Every leaf command answers -h with exit 0, its synopsis, its flags and
// one example on stdout, and `revokd help CMD` says the same.
func TestEveryCommandHelp(t *testing.T) {
	names := make([]string, 0, len(commandHelps))
	for name := range commandHelps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run("ok/"+strings.ReplaceAll(name, " ", "-"), func(t *testing.T) {
			args := append(strings.Fields(name), "-h")
			var out, errOut bytes.Buffer
			if code := run(context.Background(), args, strings.NewReader(""), &out, &errOut); code != exitOK {
				t.Fatalf("revokd %s -h: exit %d, stderr %q", name, code, errOut.String())
			}
			h := out.String()
			if !strings.HasPrefix(h, "usage: "+commandHelps[name].synopsis+"\n") || !strings.Contains(h, "\nexample:\n  revokd "+name) {
				t.Errorf("revokd %s -h:\n%s\nwant the synopsis and an example", name, h)
			}
			if name != "version" && !strings.Contains(h, "\nflags:\n") {
				t.Errorf("revokd %s -h lists no flags:\n%s", name, h)
			}
			var viaHelp bytes.Buffer
			if code := run(context.Background(), append([]string{"help"}, strings.Fields(name)...), strings.NewReader(""), &viaHelp, &errOut); code != exitOK || viaHelp.String() != h {
				t.Errorf("revokd help %s: exit %d, %q; want what -h prints", name, code, viaHelp.String())
			}
		})
	}
}
