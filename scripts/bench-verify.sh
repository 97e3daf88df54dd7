#!/usr/bin/env bash
# Times `revokd verify` against poppler's pdfsig, as whole processes, on the
# same signed forms of about 100 KB and 5 MB (RSA, revocation evidence
# embedded, certificates without CRL or OCSP URLs, so neither verifier
# touches the network). Usage: scripts/bench-verify.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
for tool in pdfsig certutil; do
	command -v "$tool" >/dev/null || { echo "bench-verify: $tool is missing (apt-get install poppler-utils libnss3-tools)" >&2; exit 2; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/revokd" ./cmd/revokd
go run ./scripts/benchfiles -out "$dir"
mkdir "$dir/nss"
certutil -N -d "sql:$dir/nss" --empty-password
certutil -A -d "sql:$dir/nss" -n root -t "CT,C,C" -a -i "$dir/root.pem"

# ms_per_run CMD...: mean wall time of RUNS runs, in milliseconds.
ms_per_run() {
	local start end
	start=$(date +%s%N)
	for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1 || true; done
	end=$(date +%s%N)
	awk -v ns=$((end - start)) -v n="$runs" 'BEGIN { printf "%.2f", ns / n / 1e6 }'
}

printf '%-14s %10s %10s %8s\n' file revokd_ms pdfsig_ms ratio
for f in form-100k.pdf form-5m.pdf; do
	"$dir/revokd" verify --offline --trust "$dir/root.pem" "$dir/$f" >/dev/null || {
		echo "bench-verify: revokd rejects $f:" >&2
		"$dir/revokd" verify --offline --trust "$dir/root.pem" "$dir/$f" >&2 || true
		exit 1
	}
	r=$(ms_per_run "$dir/revokd" verify --offline --trust "$dir/root.pem" "$dir/$f")
	p=$(ms_per_run pdfsig -nssdir "sql:$dir/nss" "$dir/$f")
	printf '%-14s %10s %10s %7sx\n' "$f" "$r" "$p" "$(awk -v p="$p" -v r="$r" 'BEGIN { printf "%.1f", p / r }')"
done
