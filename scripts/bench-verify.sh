#!/usr/bin/env bash
# Times `revokd verify` against poppler's pdfsig, as whole processes, on the
# same signed forms of about 100 KB and 5 MB (RSA, revocation evidence
# embedded, certificates without CRL or OCSP URLs, so neither verifier
# touches the network). The commands run in turn, round after round, so a
# drift in the machine's speed falls on all of them alike.
#
# Two Go programs that do nothing are timed beside them, to show the floor
# a Go verifier starts from on this machine: an empty program, and one that
# links crypto/x509 and net/http (which online CRL and OCSP checking needs).
#
# Usage: scripts/bench-verify.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
for tool in pdfsig certutil; do
	command -v "$tool" >/dev/null || { echo "bench-verify: $tool is missing (apt-get install poppler-utils libnss3-tools)" >&2; exit 2; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The README's build: static, as cgo's dynamic loader costs every run.
CGO_ENABLED=0 go build -o "$dir/revokd" ./cmd/revokd
go build -o "$dir/benchproc" ./scripts/benchproc
go run ./scripts/benchfiles -out "$dir"
mkdir "$dir/nss"
certutil -N -d "sql:$dir/nss" --empty-password
certutil -A -d "sql:$dir/nss" -n root -t "CT,C,C" -a -i "$dir/root.pem"

mkdir "$dir/floor"
cat >"$dir/floor/go.mod" <<'MOD'
module floor

go 1.26
MOD
mkdir "$dir/floor/empty" "$dir/floor/http"
cat >"$dir/floor/empty/main.go" <<'GO'
package main

func main() {}
GO
cat >"$dir/floor/http/main.go" <<'GO'
package main

import (
	"crypto/x509"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) > 1 {
		x509.NewCertPool()
		http.Get(os.Args[1])
	}
}
GO
(cd "$dir/floor" && CGO_ENABLED=0 go build -o "$dir/go-empty" ./empty && CGO_ENABLED=0 go build -o "$dir/go-http" ./http)

for f in form-100k.pdf form-5m.pdf; do
	"$dir/revokd" verify --offline --trust "$dir/root.pem" "$dir/$f" >/dev/null || {
		echo "bench-verify: revokd rejects $f:" >&2
		"$dir/revokd" verify --offline --trust "$dir/root.pem" "$dir/$f" >&2 || true
		exit 1
	}
done
"$dir/benchproc" -runs "$runs" -compare revokd-100k:pdfsig-100k -compare revokd-5m:pdfsig-5m -- \
	go-empty="$dir/go-empty" -- \
	go-x509-http="$dir/go-http" -- \
	revokd-100k="$dir/revokd" verify --offline --trust "$dir/root.pem" "$dir/form-100k.pdf" -- \
	pdfsig-100k=pdfsig -nssdir "sql:$dir/nss" "$dir/form-100k.pdf" -- \
	revokd-5m="$dir/revokd" verify --offline --trust "$dir/root.pem" "$dir/form-5m.pdf" -- \
	pdfsig-5m=pdfsig -nssdir "sql:$dir/nss" "$dir/form-5m.pdf"
