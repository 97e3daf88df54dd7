package queue

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The lookups made for every mail must use an index: the tables they read
// hold the evidence, so a scan costs a read of every mail archived and the
// worker slows down as the store grows. PostgreSQL is told to avoid scans
// (on a small table its planner would rightly choose one) and must still
// find an index.
func TestHotLookupsUseAnIndex(t *testing.T) {
	queries := []struct {
		name  string
		query string
		args  []any
	}{
		{"handled-mail-by-hash", handledByHashQuery, []any{"ab"}},
		{"replay-by-pdf", replayByPDFQuery, []any{"ab"}},
		{"replay-by-form", replayByFormQuery, []any{"01", "ab"}},
	}
	s, err := openBackend(t, filepath.Join(t.TempDir(), "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stamp := formatTime(time.Now())
	for _, lq := range []leasedQueue{s.jobs, s.outbox, s.verifications} {
		queries = append(queries, struct {
			name  string
			query string
			args  []any
		}{"give-up-abandoned-" + lq.table, lq.giveUpQuery(), []any{stamp, "lease expired", stamp, 3}})
	}
	for _, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			plan := explain(t, s, q.query, q.args)
			for _, scan := range []string{"SCAN mails", "SCAN requests", "SCAN outbox", "SCAN revocation_jobs", "SCAN verifications", "Seq Scan"} {
				if strings.Contains(plan, scan) {
					t.Errorf("the plan reads the whole table:\n%s", plan)
				}
			}
			if !strings.Contains(strings.ToLower(plan), "index") {
				t.Errorf("the plan uses no index:\n%s", plan)
			}
		})
	}
}

func explain(t *testing.T, s *Store, query string, args []any) string {
	t.Helper()
	tx, err := s.db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	prefix := "EXPLAIN QUERY PLAN "
	if s.path == "" {
		prefix = "EXPLAIN "
		if _, err := tx.ExecContext(t.Context(), "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := tx.QueryContext(t.Context(), prefix+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		b.WriteString(vals[len(vals)-1].String)
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
