package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// IsPostgresURL reports whether a store.url names a PostgreSQL database.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// maxPostgresConns bounds one process's connections: its writes take
// turns (the write lock serialises them anyway), the mails in flight and
// the verifiers read beside them, and one more holds the mailbox lease.
// Three workers on one server stay well below PostgreSQL's default of 100.
// All are kept open between uses: a new connection is a new server
// process, which costs milliseconds of CPU and starts with no cached
// statement.
const maxPostgresConns = 12

// openPostgres opens the database at url through pgx, behind database/sql
// with the store's rewriting of queries and values (rewritingConnector).
func openPostgres(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message repeats the URL, password included.
		return nil, fmt.Errorf("store.url is not a PostgreSQL connection URL")
	}
	db := sql.OpenDB(rewritingConnector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(maxPostgresConns)
	db.SetMaxIdleConns(maxPostgresConns)
	return db, nil
}

// rewritingConnector hands out connections that speak the store's SQL to
// PostgreSQL: ? placeholders become $n, and values become what
// PostgreSQL's columns take.
type rewritingConnector struct{ driver.Connector }

func (c rewritingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &rewritingConn{conn.(*stdlib.Conn)}, nil
}

// rewritingConn is a pgx connection whose queries and values are
// rewritten; the rest is pgx's.
type rewritingConn struct{ *stdlib.Conn }

func (c *rewritingConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c *rewritingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c *rewritingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c *rewritingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

// CheckNamedValue turns a value into what the schema's columns hold:
// booleans are stored as 0 and 1 (BIGINT, as in SQLite), and text cannot
// hold NUL bytes or invalid UTF-8 in PostgreSQL, which refuses the whole
// statement for one. Mail is full of both; the store cleans the strings
// it takes from mail (cleanText) before it hashes or compares them, and
// this is the net for the rest, so that a hostile header is a stored row
// and not a mail that fails for ever.
func (c *rewritingConn) CheckNamedValue(nv *driver.NamedValue) error {
	switch v := nv.Value.(type) {
	case bool:
		if v {
			nv.Value = int64(1)
		} else {
			nv.Value = int64(0)
		}
	case string:
		nv.Value = cleanText(v)
	}
	return nil
}

// cleanText replaces NUL bytes and invalid UTF-8 in s with U+FFFD: what
// both backends store of a string from mail, so that they store the same.
// Replaced, never removed: "a\x00b@example.fr" must not become another,
// real address.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// rebind rewrites the ? placeholders of query as $1, $2, ... leaving
// string literals, quoted identifiers and comments alone.
func rebind(query string) string {
	if strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// A doubled quote inside is two literals back to back, which
			// this reads the same.
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+4])
			i += j + 3
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
