package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"time"
)

// sessionLeaseCheck is how often a held session lease checks that its
// connection is still alive. A connection the server cut (a restart, an
// operator's pg_terminate_backend, a network partition) has lost the lock,
// and another worker may take it at its next try (every second): the
// holder stops its IMAP session within this interval.
const sessionLeaseCheck = 500 * time.Millisecond

// sessionLease is the PostgreSQL store's Lease: a session-level advisory
// lock held on a connection kept aside for it. The server drops the lock
// when that connection ends, so a worker that dies (SIGKILL, a machine
// lost) frees the mailbox for the others at once. The holder's host and
// pid are recorded in the leases table for whoever waits.
type sessionLease struct {
	store *Store
	name  string
	key   int64 // the advisory lock's key: the name's hash

	mu   sync.Mutex
	conn *sql.Conn     // held while the lease is
	lost chan struct{} // closed when conn dies
	stop chan struct{} // closed by Release, ends the watch
}

func (l *sessionLease) TryAcquire(ctx context.Context) (bool, LeaseHolder, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		select {
		case <-l.lost:
			l.dropLocked()
		default:
			return true, LeaseHolder{}, nil
		}
	}
	conn, err := l.store.db.Conn(ctx)
	if err != nil {
		return false, LeaseHolder{}, fmt.Errorf("acquiring lease %q: %w", l.name, err)
	}
	var held bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(?)`, l.key).Scan(&held); err != nil {
		conn.Close()
		return false, LeaseHolder{}, fmt.Errorf("acquiring lease %q: %w", l.name, err)
	}
	if !held {
		conn.Close()
		h, err := l.store.leaseHolder(ctx, l.name)
		return false, h, err
	}
	me := l.store.thisProcess()
	if err := l.store.recordLeaseHolder(ctx, l.name, me); err != nil {
		unlock(conn, l.key)
		return false, LeaseHolder{}, err
	}
	l.conn, l.lost, l.stop = conn, make(chan struct{}), make(chan struct{})
	go watchSession(conn, l.lost, l.stop)
	l.store.heldMu.Lock()
	if l.store.held == nil {
		l.store.held = map[*sessionLease]bool{}
	}
	l.store.held[l] = true
	l.store.heldMu.Unlock()
	return true, me, nil
}

// watchSession closes lost when conn stops answering, until stop.
func watchSession(conn *sql.Conn, lost, stop chan struct{}) {
	t := time.NewTicker(sessionLeaseCheck)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := conn.PingContext(ctx)
		cancel()
		if err != nil {
			close(lost)
			return
		}
	}
}

func (l *sessionLease) Lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

func (l *sessionLease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	_, err := l.store.db.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`,
		l.name, formatHolder(l.store.thisProcess()))
	l.dropLocked()
	if err != nil {
		return fmt.Errorf("releasing lease %q: %w", l.name, err)
	}
	return nil
}

// dropLocked unlocks and gives back the held connection.
func (l *sessionLease) dropLocked() {
	close(l.stop)
	unlock(l.conn, l.key)
	l.conn, l.lost, l.stop = nil, nil, nil
}

// unlock releases the advisory lock key held on conn and gives conn back
// to the pool; a dead connection's lock is gone already.
func unlock(conn *sql.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock(?)`, key); err != nil {
		// Not given back to the pool: the lock would go with it.
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	conn.Close()
}
