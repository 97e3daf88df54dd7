// Command benchproc times whole processes: it runs each command of a list
// in turn, round after round, so that a drift of the machine's speed falls
// on every command alike, and prints the median and mean wall time of each.
//
//	benchproc -runs 100 [-compare A:B]... -- NAME=CMD ARGS... -- NAME=CMD ARGS...
//
// -compare A:B prints how many times faster A is than B, by median.
//
// A command's output is discarded; a non-zero exit status is counted and
// shown, not fatal, since `revokd verify` exits 1 on a rejected file.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

type command struct {
	name   string
	argv   []string
	times  []time.Duration
	failed int
}

func main() {
	runs := flag.Int("runs", 100, "rounds")
	warmup := flag.Int("warmup", 5, "rounds run first and not counted")
	var compares []string
	flag.Func("compare", "`A:B`: print how many times faster command A is than B (repeatable)", func(s string) error {
		if _, _, ok := strings.Cut(s, ":"); !ok {
			return fmt.Errorf("want A:B")
		}
		compares = append(compares, s)
		return nil
	})
	flag.Parse()
	cmds, err := parse(flag.Args())
	if err != nil {
		log.Fatal("benchproc: ", err)
	}
	for round := 0; round < *warmup+*runs; round++ {
		for _, c := range cmds {
			d, err := runOnce(c.argv)
			if round < *warmup {
				continue
			}
			c.times = append(c.times, d)
			if err != nil {
				c.failed++
			}
		}
	}
	fmt.Printf("%-24s %10s %10s %8s\n", "command", "median_ms", "mean_ms", "exit!=0")
	for _, c := range cmds {
		fmt.Printf("%-24s %10.2f %10.2f %8d\n", c.name, ms(median(c.times)), ms(mean(c.times)), c.failed)
	}
	for _, cmp := range compares {
		a, b, _ := strings.Cut(cmp, ":")
		ca, cb := find(cmds, a), find(cmds, b)
		if ca == nil || cb == nil {
			log.Fatalf("benchproc: -compare %s: no such command", cmp)
		}
		fmt.Printf("%s is %.2fx faster than %s (median)\n", a, float64(median(cb.times))/float64(median(ca.times)), b)
	}
}

func find(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

// parse reads "NAME=CMD ARGS... -- NAME=CMD ARGS..." (the flag package
// has already taken the "--" that ends the flags).
func parse(args []string) ([]*command, error) {
	cmds := []*command{{}}
	for _, a := range args {
		if a == "--" {
			cmds = append(cmds, &command{})
			continue
		}
		c := cmds[len(cmds)-1]
		if c.name == "" {
			name, cmd, ok := strings.Cut(a, "=")
			if !ok {
				return nil, fmt.Errorf("want NAME=CMD, got %q", a)
			}
			c.name, a = name, cmd
		}
		c.argv = append(c.argv, a)
	}
	for _, c := range cmds {
		if len(c.argv) == 0 {
			return nil, fmt.Errorf("empty command in %q", args)
		}
	}
	return cmds, nil
}

func runOnce(argv []string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = nil, nil
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if _, ok := err.(*exec.ExitError); !ok && err != nil {
		fmt.Fprintln(os.Stderr, "benchproc:", err)
		os.Exit(2)
	}
	return d, err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
