// Package pgtest starts a throwaway PostgreSQL server on 127.0.0.1 for the
// store's tests: its own data directory, its own port, trust authentication
// on loopback only, stopped and removed by Stop.
//
// initdb and pg_ctl refuse to run as root, so as root the server runs as
// the Debian "postgres" user in a directory of its own under the system's
// temporary folder (t.TempDir's folders are 0700 and owned by root, which
// that user cannot enter).
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startTimeout bounds pg_ctl's wait for the server; PostgreSQL 15 starts
// in about 0.1 s on an idle 2-core machine, a loaded one can take seconds.
const startTimeout = 60 * time.Second

// Postgres is a running server.
type Postgres struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// User is the superuser the tests connect as (no password: trust on
	// loopback).
	User string

	dir   string
	bin   string
	runAs *user.User
}

// BinDir returns the folder holding initdb and pg_ctl, the newest version
// of Debian's /usr/lib/postgresql/N/bin first, else where PATH finds
// initdb; "" when PostgreSQL's server is not installed.
func BinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// Start initialises a cluster in a new directory and starts it on a free
// port of 127.0.0.1.
func Start() (*Postgres, error) {
	bin := BinDir()
	if bin == "" {
		return nil, errors.New("PostgreSQL's server (initdb, pg_ctl) is not installed")
	}
	p := &Postgres{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		p.runAs = u
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	p.dir = dir
	if err := p.chown(dir); err != nil {
		p.remove()
		return nil, err
	}
	p.User = "revokd"
	if out, err := p.run("initdb", "-D", p.dataDir(), "-U", p.User, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		p.remove()
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		p.remove()
		return nil, err
	}
	p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// fsync off: the tests kill processes, never the machine.
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "+
		"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
		port, dir)
	if out, err := p.run("pg_ctl", "-D", p.dataDir(), "-l", p.logPath(), "-o", opts,
		"-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "start"); err != nil {
		log := p.Log()
		p.remove()
		return nil, fmt.Errorf("pg_ctl start: %w: %s\n%s", err, out, log)
	}
	return p, nil
}

// URL returns a connection URL for database db (created by CreateDatabase,
// or "postgres").
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", p.User, p.Addr, db)
}

// CreateDatabase creates an empty database named name, so that each test
// gets one of its own on a shared server.
func (p *Postgres) CreateDatabase(name string) error {
	host, port, _ := net.SplitHostPort(p.Addr)
	out, err := p.run("createdb", "-h", host, "-p", port, "-U", p.User, name)
	if err != nil {
		return fmt.Errorf("createdb %s: %w: %s", name, err, out)
	}
	return nil
}

// Stop stops the server (fast shutdown: sessions are cut) and removes its
// directory.
func (p *Postgres) Stop() error {
	out, err := p.run("pg_ctl", "-D", p.dataDir(), "-m", "fast", "-w", "stop")
	p.remove()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	return nil
}

// Log returns the server's log so far.
func (p *Postgres) Log() string {
	data, _ := os.ReadFile(p.logPath())
	return string(data)
}

func (p *Postgres) dataDir() string { return filepath.Join(p.dir, "data") }
func (p *Postgres) logPath() string { return filepath.Join(p.dir, "postgres.log") }

func (p *Postgres) remove() { os.RemoveAll(p.dir) }

func (p *Postgres) chown(path string) error {
	if p.runAs == nil {
		return nil
	}
	uid, _ := strconv.Atoi(p.runAs.Uid)
	gid, _ := strconv.Atoi(p.runAs.Gid)
	return os.Chown(path, uid, gid)
}

func (p *Postgres) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if p.runAs != nil {
		uid, _ := strconv.Atoi(p.runAs.Uid)
		gid, _ := strconv.Atoi(p.runAs.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Env = append(os.Environ(), "HOME="+p.dir, "USER=postgres", "LOGNAME=postgres")
	}
	err := cmd.Run()
	return bytes.TrimSpace(out.Bytes()), err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Required reports whether a missing PostgreSQL must fail a test rather
// than skip it: in CI every real part has to be there.
func Required() bool { return strings.EqualFold(os.Getenv("CI"), "true") }
