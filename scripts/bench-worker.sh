#!/usr/bin/env bash
# Measures the worker against a real Dovecot (started on loopback by the
# benchmark): drain rate of a backlog of signed requests, and the latency
# from APPEND to committed outcome with IDLE (p50, p95).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dovecot >/dev/null || { echo "bench-worker: dovecot is missing (apt-get install dovecot-imapd)" >&2; exit 2; }
go test -run XXX -bench BenchmarkWorker -benchtime 1x -count "${1:-3}" ./cmd/revokd | grep -E '^Benchmark|mails/s'
