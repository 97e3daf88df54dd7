#!/usr/bin/env bash
# The project's test command (the README's): installs the tools the tests
# drive when they are missing, then vets and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v pdfsig >/dev/null 2>&1 || need+=(poppler-utils)
command -v certutil >/dev/null 2>&1 || need+=(libnss3-tools)
command -v pk12util >/dev/null 2>&1 || need+=(libnss3-tools)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v qpdf >/dev/null 2>&1 || need+=(qpdf)
command -v zip >/dev/null 2>&1 || need+=(zip)
command -v chattr >/dev/null 2>&1 || need+=(e2fsprogs)
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v mutool >/dev/null 2>&1 || need+=(mupdf-tools)
# Producers the verifier's tests sign with: Apache PDFBox 2 (a Java driver
# compiled by the test) and @signpdf/signpdf with pdf-lib (npm ci).
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
[ -e /usr/share/java/pdfbox2.jar ] || need+=(libpdfbox2-java)
[ -e /usr/share/java/bcpkix.jar ] || need+=(libbcpkix-java)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if ((${#need[@]})); then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "test.sh: installing ${need[*]}" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi

go vet ./...
# Pinned, from the module proxy.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
# cmd/revokd drives Dovecot, SMTP and revokd processes under the race
# detector: 8-9 minutes on a loaded 2-core machine, too near go test's
# default 10-minute limit.
go test -race -count=1 -timeout 30m "$@" ./...
