package main

import (
	"slices"
	"testing"
	"time"
)

func TestParseSplitsCommands(t *testing.T) {
	cmds, err := parse([]string{"a=./revokd", "verify", "x.pdf", "--", "b=pdfsig", "x.pdf"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 2 || cmds[0].name != "a" || cmds[1].name != "b" {
		t.Fatalf("parse = %+v, want commands a and b", cmds)
	}
	if want := []string{"./revokd", "verify", "x.pdf"}; !slices.Equal(cmds[0].argv, want) {
		t.Errorf("a = %q, want %q", cmds[0].argv, want)
	}
	if want := []string{"pdfsig", "x.pdf"}; !slices.Equal(cmds[1].argv, want) {
		t.Errorf("b = %q, want %q", cmds[1].argv, want)
	}
}

func TestParseRefusesMalformedLists(t *testing.T) {
	for _, args := range [][]string{
		{"./revokd", "verify"}, // no NAME=
		{"a=./revokd", "--"},   // empty last command
		{"a=./revokd", "--", "--", "b=x"},
	} {
		if _, err := parse(args); err == nil {
			t.Errorf("parse(%q) succeeded", args)
		}
	}
}

func TestMedianAndMean(t *testing.T) {
	ds := []time.Duration{5, 1, 3, 100}
	if m := median(ds); m != 5 {
		t.Errorf("median = %v, want 5 (the upper middle of 1 3 5 100)", m)
	}
	if m := mean(ds); m != 27 {
		t.Errorf("mean = %v, want 27", m)
	}
	if !slices.Equal(ds, []time.Duration{5, 1, 3, 100}) {
		t.Error("median sorted its argument in place")
	}
}
