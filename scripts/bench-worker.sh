#!/usr/bin/env bash
# Measures the worker against a real Dovecot (started on loopback by the
# benchmark).
#   bash scripts/bench-worker.sh [ROUNDS]  in process, SQLite: drain rate of
#       REVOKD_BENCH_MAILS (default 1,000) signed requests and
#       APPEND-to-outcome latency with IDLE (p50, p95), ROUNDS times (3)
#   bash scripts/bench-worker.sh load      whole processes: REVOKD_BENCH_MAILS
#       (default 10,000) requests drained by one worker on SQLite, one and
#       three workers on PostgreSQL; latency with IDLE; peak RSS per worker
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dovecot >/dev/null || [ -x /usr/sbin/dovecot ] || { echo "bench-worker: dovecot is missing (apt-get install dovecot-imapd)" >&2; exit 2; }
if [ "${1:-}" = load ]; then
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "bench-worker: PostgreSQL is missing (apt-get install postgresql)" >&2; exit 2; }
	go test -run XXX -bench BenchmarkWorkers -benchtime 1x -timeout 3h ./cmd/revokd | grep -E '^Benchmark|mails/s'
	exit
fi
go test -run XXX -bench 'BenchmarkWorker$' -benchtime 1x -count "${1:-3}" ./cmd/revokd | grep -E '^Benchmark|mails/s'
