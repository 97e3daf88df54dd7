// Package queue is revokd's durable store: the registry of issued
// certificates and legal representatives, and the mails, evidence,
// requests, revocation jobs, outbox and audit log of the worker.
//
// The default store is an SQLite database, embedded (pure Go, no cgo), in
// write-ahead-log mode so that readers never wait for the writer. Its schema
// is created and upgraded by numbered migrations when the store is opened;
// a database written by a newer revokd is refused rather than misread.
//
// Every state change is one transaction together with the outbox rows that
// announce it and the audit rows that record it, so a crash loses nothing
// and sends nothing twice. Idempotency rests on unique keys, not on the
// callers: a mail is known by mailbox, UIDVALIDITY and UID and by the
// SHA-256 of its bytes, and a revocation job by issuer and serial (the
// store's own ledger, kept for good, so that a replayed request never
// revokes twice).
//
// Evidence (the raw mails, the PDFs, the verification reports and the
// decisions) is stored inside the database, content-addressed by SHA-256,
// once: it commits in the same transaction as the rows that refer to it, and
// one file holds everything a backup needs.
//
// The audit log is append-only (triggers refuse UPDATE and DELETE) and hash
// chained: VerifyAudit finds a row changed or removed behind the store's
// back. It cannot see rows cut from the end; keep the head hash that
// VerifyAudit returns somewhere else to detect that.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DatabaseFile is the name of the SQLite database inside the data folder.
const DatabaseFile = "revokd.db"

// busyTimeout is how long a statement waits for another connection's write
// lock (another worker process, an import run from the command line) before
// failing: imports hold it for one row at a time, so waits are short, and a
// failure after this long means something is stuck.
const busyTimeout = 10 * time.Second

// idleSQLiteConns is how many connections to its SQLite database one
// process keeps open between uses: as many as mails in flight and
// verifiers at their defaults. The number open at once is not bounded, so
// that a caller holding one and asking for another never waits for itself.
const idleSQLiteConns = 32

// Store is the durable store. It is safe for concurrent use, also by
// several processes on the same data folder.
type Store struct {
	db   *sql.DB
	path string // the SQLite database's file; "" on PostgreSQL
	opts Options
	d    *dialect
	// held are the session leases taken on a PostgreSQL store, ended by
	// Close.
	heldMu sync.Mutex
	held   map[*sessionLease]bool
	// jobs, outbox and verifications are the leased queues, each with its
	// policy.
	jobs, outbox, verifications leasedQueue
	// writeMu serialises this process's write transactions on SQLite,
	// which would otherwise wait for each other in SQLite's busy handler,
	// sleeping milliseconds at a time.
	writeMu sync.Mutex
}

// Default retry policy of revocation jobs.
const (
	// DefaultMaxAttempts: five tries spread over a quarter of an hour with
	// the default delays ride out a CA signing service restarting, and
	// still leave an operator most of the 24 hours a key compromise allows
	// to revoke by hand.
	DefaultMaxAttempts = 5
	// DefaultRetryDelay is the wait after a job's first failure.
	DefaultRetryDelay = time.Minute
	// DefaultMaxRetryDelay caps the doubling of the wait.
	DefaultMaxRetryDelay = time.Hour
)

// DefaultJobRetry is the retry policy of revocation jobs when
// Options.Jobs is zero.
var DefaultJobRetry = RetryPolicy{MaxAttempts: DefaultMaxAttempts, RetryDelay: DefaultRetryDelay, MaxRetryDelay: DefaultMaxRetryDelay}

// DefaultOutboxRetry is the retry policy of the outbox when Options.Outbox
// is zero.
var DefaultOutboxRetry = RetryPolicy{MaxAttempts: OutboxMaxAttempts, RetryDelay: OutboxRetryDelay, MaxRetryDelay: OutboxMaxRetryDelay}

// Options tune a Store. A nil *Options is the same as the zero value.
type Options struct {
	// Now returns the current time. Nil means time.Now; tests give a
	// fixed clock.
	Now func() time.Time
	// Jobs is the retry policy of revocation jobs: how many times a job is
	// handed to an executor before a failure marks it failed for good, and
	// the waits between. Zero fields take DefaultJobRetry's.
	Jobs RetryPolicy
	// Outbox is the retry policy of the notifications' delivery. Zero
	// fields take DefaultOutboxRetry's.
	Outbox RetryPolicy
	// URL is store.url: "" keeps the SQLite database in the data folder;
	// postgres://user@host/db (or postgresql://) opens that PostgreSQL
	// database instead, shared by several workers, and the data folder is
	// not used by the store.
	URL string
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	r.Jobs = r.Jobs.withDefaults(DefaultJobRetry)
	r.Outbox = r.Outbox.withDefaults(DefaultOutboxRetry)
	return r
}

// now returns the store's clock, in UTC.
func (s *Store) now() time.Time { return s.opts.Now().UTC() }

// Open opens the store in dataDir, creating the folder and the database
// (dataDir/revokd.db) when missing, and brings its schema up to date.
func Open(ctx context.Context, dataDir string) (*Store, error) {
	return OpenWith(ctx, dataDir, nil)
}

// OpenWith is Open with options. With Options.URL set, the store is that
// PostgreSQL database and dataDir is not used.
func OpenWith(ctx context.Context, dataDir string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	if o.URL != "" {
		return openPostgresStore(ctx, o)
	}
	if dataDir == "" {
		return nil, errors.New("opening store: no data folder given")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if err := privateDir(dataDir); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	abs, err := filepath.Abs(filepath.Join(dataDir, DatabaseFile))
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	// SQLite creates the -wal and -shm files with the database file's
	// permissions: a database created 0600 keeps all three private,
	// whatever the process umask.
	if err := privateFile(abs, true); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "1")
	// Every transaction takes the write lock at BEGIN: a read-then-write
	// transaction (an upsert, a claim) cannot then fail half-way with
	// SQLITE_BUSY when another connection wrote in between.
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", abs, err)
	}
	// The mails in flight, the verifiers and the sender each take a
	// connection: kept open, not closed and opened again (each opening
	// reads the schema again and starts with an empty page cache).
	db.SetMaxIdleConns(idleSQLiteConns)
	s := newStore(db, abs, o, sqliteDialect)
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store %s: %w", abs, err)
	}
	for _, side := range []string{abs + "-wal", abs + "-shm"} {
		if err := privateFile(side, false); err != nil {
			db.Close()
			return nil, fmt.Errorf("opening store: %w", err)
		}
	}
	return s, nil
}

// openPostgresStore opens the PostgreSQL store at o.URL.
func openPostgresStore(ctx context.Context, o Options) (*Store, error) {
	if !IsPostgresURL(o.URL) {
		return nil, errors.New("opening store: store.url must start with postgres:// or postgresql://")
	}
	db, err := openPostgres(o.URL)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	s := newStore(db, "", o, postgresDialect)
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the PostgreSQL store: %w", err)
	}
	return s, nil
}

func newStore(db *sql.DB, path string, o Options, d *dialect) *Store {
	s := &Store{db: db, path: path, opts: o, d: d}
	s.jobs = leasedQueue{table: "revocation_jobs", noun: "job", finalState: string(JobDone), finishedAt: "done_at",
		policy: o.Jobs, skipLocked: d.skipLocked}
	s.outbox = leasedQueue{table: "outbox", noun: "outbox", finalState: OutboxSent, finishedAt: "sent_at",
		policy: o.Outbox, skipLocked: d.skipLocked}
	s.verifications = leasedQueue{table: "verifications", noun: "verification", finalState: VerificationDone, finishedAt: "done_at",
		policy: DefaultVerificationRetry, skipLocked: d.skipLocked}
	return s
}

// Backend is "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

// Close closes the store; the leases it holds end with it.
func (s *Store) Close() error {
	s.heldMu.Lock()
	held := s.held
	s.held = nil
	s.heldMu.Unlock()
	for l := range held {
		l.mu.Lock()
		if l.conn != nil {
			l.dropLocked()
		}
		l.mu.Unlock()
	}
	return s.db.Close()
}

// Path returns the database file's path; "" for a PostgreSQL store.
func (s *Store) Path() string { return s.path }

// SchemaVersion returns the number of the last migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return int(v.Int64), nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction with the row that records it.
func (s *Store) migrate(ctx context.Context) error {
	// Under the write lock: two workers started together on an empty
	// PostgreSQL database must not both create the tables.
	tx, err := s.d.beginWrite(ctx, s.db)
	if err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.d.migrationSQL(migration{sql: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`})); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	latest := migrations[len(migrations)-1].version
	for _, m := range migrations {
		if err := s.apply(ctx, m, latest); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration, latest int) error {
	tx, err := s.d.beginWrite(ctx, s.db)
	if err != nil {
		return fmt.Errorf("migration %d: %w", m.version, err)
	}
	defer tx.Rollback()
	// Read inside the transaction: another process may have migrated
	// while this one waited for the lock.
	var current sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if int(current.Int64) > latest {
		return fmt.Errorf("database schema version %d is newer than this revokd knows (%d): upgrade revokd", current.Int64, latest)
	}
	if int(current.Int64) >= m.version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.migrationSQL(m)); err != nil {
		return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, formatTime(time.Now())); err != nil {
		return fmt.Errorf("recording migration %d: %w", m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: %w", m.version, err)
	}
	return nil
}

// timeLayout is how instants are stored: UTC, fixed width, so that text
// order is time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) { return time.Parse(timeLayout, s) }

// parseNullTime reads an optional stored instant; NULL is the zero time.
func parseNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}

// inTx runs fn in a write transaction (it takes the write lock at BEGIN)
// and commits it when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.path != "" {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	tx, err := s.d.beginWrite(ctx, s.db)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// readTx runs fn in a read transaction: one snapshot of the database,
// without the write lock, so that a long read never holds up the worker.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: s.d.readIsolation})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// privateDir makes the data folder private to its owner: the store holds
// every raw mail, PDF and address. A folder others may write to is
// refused (they could swap the database); one they may only read or
// enter is tightened to 0700.
func privateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("data folder %s is not a folder", dir)
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		return fmt.Errorf("data folder %s has mode %04o: users other than its owner may write to it; "+
			"make it private (chmod 700) or choose another data_dir", dir, perm)
	}
	if perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&0o700); err != nil {
			return fmt.Errorf("making data folder %s private (mode %04o): %w", dir, perm, err)
		}
	}
	return nil
}

// privateFile gives path mode 0600, creating it empty when create is set
// and it does not exist yet (an empty file is a new SQLite database).
func privateFile(path string, create bool) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && create:
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, os.ErrExist) {
			return privateFile(path, false)
		}
		if err != nil {
			return err
		}
		return f.Close()
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case fi.Mode().Perm()&0o077 != 0:
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("making %s private: %w", path, err)
		}
	}
	return nil
}
