package queue

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Lease is one process's hold on a named resource (a mailbox) for as long
// as it lives: another process gets it only once the holder released it
// or died, and a holder that died (SIGKILL, power cut) releases it with
// its last breath, not after a timeout. The embedded SQLite store holds it
// with an operating-system file lock that the kernel drops when the
// process ends; a PostgreSQL store will hold it with a session advisory
// lock, which the server drops when the session's connection ends.
type Lease interface {
	// TryAcquire takes the lease if no live process holds it. When another
	// does, ok is false and holder says who (as far as it recorded it).
	TryAcquire(ctx context.Context) (ok bool, holder LeaseHolder, err error)
	// Release gives the lease up. Releasing a lease not held does nothing.
	Release(ctx context.Context) error
	// Lost is closed when a held lease is lost without Release (the
	// PostgreSQL session that held it was cut): the holder must stop
	// using the resource and take the lease again. Nil while not held,
	// and for a lease that cannot be lost while its process lives.
	Lost() <-chan struct{}
}

// LeaseHolder is who holds a lease, as the holder recorded it when it took
// it.
type LeaseHolder struct {
	Host  string
	PID   int
	Since time.Time
}

// String is "host pid N since T", or "unknown" when nothing was recorded.
func (h LeaseHolder) String() string {
	if h.Host == "" && h.PID == 0 {
		return "unknown"
	}
	return fmt.Sprintf("%s pid %d since %s", h.Host, h.PID, h.Since.UTC().Format(time.RFC3339))
}

// Lease returns the lease called name (e.g. "imap:user@host:993/INBOX")
// for this process. The caller holds it from a successful TryAcquire to
// Release or the end of the process.
func (s *Store) Lease(name string) Lease {
	sum := sha256.Sum256([]byte(name))
	if s.d == postgresDialect {
		return &sessionLease{store: s, name: name, key: int64(binary.BigEndian.Uint64(sum[:8]))}
	}
	return &fileLease{
		store: s,
		name:  name,
		path:  filepath.Join(filepath.Dir(s.path), "lease-"+hex.EncodeToString(sum[:8])+".lock"),
	}
}

// fileLease is the SQLite store's Lease: an exclusive lock on a file
// beside the database (lockFile, per platform), with the holder's host,
// pid and start recorded in the leases table for whoever waits.
type fileLease struct {
	store *Store
	name  string
	path  string

	mu   sync.Mutex
	file *os.File // open while held
}

func (l *fileLease) TryAcquire(ctx context.Context) (bool, LeaseHolder, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		return true, LeaseHolder{}, nil
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, LeaseHolder{}, fmt.Errorf("acquiring lease %q: %w", l.name, err)
	}
	held, err := lockFile(f)
	if err != nil {
		f.Close()
		return false, LeaseHolder{}, fmt.Errorf("acquiring lease %q: %w", l.name, err)
	}
	if !held {
		f.Close()
		h, err := l.store.leaseHolder(ctx, l.name)
		return false, h, err
	}
	me := l.store.thisProcess()
	if err := l.store.recordLeaseHolder(ctx, l.name, me); err != nil {
		f.Close() // closing drops the lock
		return false, LeaseHolder{}, err
	}
	l.file = f
	return true, me, nil
}

// thisProcess is the holder this process records when it takes a lease.
func (s *Store) thisProcess() LeaseHolder {
	host, _ := os.Hostname()
	return LeaseHolder{Host: host, PID: os.Getpid(), Since: s.now()}
}

// recordLeaseHolder records for whoever waits that h holds the lease called
// name.
func (s *Store) recordLeaseHolder(ctx context.Context, name string, h LeaseHolder) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until`,
		name, formatHolder(h), formatTime(h.Since)); err != nil {
		return fmt.Errorf("recording lease %q: %w", name, err)
	}
	return nil
}

func (l *fileLease) Lost() <-chan struct{} { return nil }

func (l *fileLease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	host, _ := os.Hostname()
	_, err := l.store.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`,
		l.name, formatHolder(LeaseHolder{Host: host, PID: os.Getpid()}))
	cerr := l.file.Close()
	l.file = nil
	if err = errors.Join(err, cerr); err != nil {
		return fmt.Errorf("releasing lease %q: %w", l.name, err)
	}
	return nil
}

// leaseHolder reads who recorded holding the lease called name.
func (s *Store) leaseHolder(ctx context.Context, name string) (LeaseHolder, error) {
	var holder, since string
	err := s.db.QueryRowContext(ctx, `SELECT holder, until FROM leases WHERE name = ?`, name).Scan(&holder, &since)
	if err != nil {
		// Taken but not recorded yet (the holder is between its lock and
		// its insert): unknown, not an error.
		return LeaseHolder{}, nil
	}
	h := parseHolder(holder)
	h.Since, _ = parseTime(since)
	return h, nil
}

// The leases table's holder column is "host/pid"; its until column, for a
// lease held by a live process, is when it was taken.
func formatHolder(h LeaseHolder) string { return h.Host + "/" + strconv.Itoa(h.PID) }

func parseHolder(s string) LeaseHolder {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return LeaseHolder{Host: s}
	}
	pid, _ := strconv.Atoi(s[i+1:])
	return LeaseHolder{Host: s[:i], PID: pid}
}
