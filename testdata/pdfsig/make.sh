#!/usr/bin/env bash
# Regenerates the fixtures signed by poppler's pdfsig, a producer
# independent of internal/testsign: a long-lived test PKI and the reference
# form come from internal/testsign/cmd/mkfixture, the holder's key goes into
# a throwaway NSS database, and pdfsig signs. Outputs land next to this
# script; README.txt says how to verify them.
#
# Usage: testdata/pdfsig/make.sh
# Needs: go, openssl, pk12util and certutil (libnss3-tools), pdfsig
# (poppler-utils), qpdf.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

for tool in go openssl pk12util certutil pdfsig qpdf; do
	command -v "$tool" >/dev/null || {
		echo "make.sh: $tool is missing (apt-get install openssl libnss3-tools poppler-utils qpdf)" >&2
		exit 2
	}
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$repo" && go run ./internal/testsign/cmd/mkfixture -out "$work")

cd "$work"
openssl pkcs12 -export -in holder.pem -inkey holder.key -certfile intermediate.pem \
	-name holder -passout pass: -out holder.p12
mkdir nss
certutil -N -d sql:nss --empty-password
pk12util -i holder.p12 -d sql:nss -W "" >/dev/null
certutil -A -d sql:nss -n root -t "CT,C,C" -a -i root.pem

# pdfsig draws the appearance of a new signature field with a system font
# and embeds all of it (DejaVu Sans: over a megabyte). With no font
# configured it embeds none, the appearance loses its text, and the
# signature is the same.
mkdir fccache
cat >fonts.conf <<EOF
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><cachedir>$work/fccache</cachedir></fontconfig>
EOF
export FONTCONFIG_FILE=$work/fonts.conf

# pdfsig exits 0 on most failures and says "NSS_Shutdown failed" on
# success: the checks below decide.
pdfsig -nssdir sql:nss -nick holder -sign Signature1 \
	-reason "Demande de revocation" form.pdf signed-field.pdf 2>pdfsig.log || true
pdfsig -nssdir sql:nss -nick holder -add-signature -new-signature-field-name PopplerSig \
	-reason "Demande de revocation" form.pdf signed-new-field.pdf 2>>pdfsig.log || true

for f in signed-field.pdf signed-new-field.pdf; do
	[ -s "$f" ] || { echo "make.sh: pdfsig did not write $f:" >&2; cat pdfsig.log >&2; exit 1; }
	qpdf --check "$f" >/dev/null
	report=$(pdfsig -nssdir sql:nss "$f" 2>/dev/null)
	for want in "Signature is Valid." "Certificate is Trusted." "Total document signed"; do
		grep -q "$want" <<<"$report" || {
			echo "make.sh: $f: pdfsig does not say \"$want\":" >&2
			echo "$report" >&2
			exit 1
		}
	done
done

serial=$(openssl x509 -in holder.pem -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
signed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
poppler=$(pdfsig -v 2>&1 | head -n1)

cp form.pdf signed-field.pdf signed-new-field.pdf root.pem intermediate.pem holder.pem "$here/"
mkdir -p "$here/crl"
cp crl/root.crl crl/intermediate.crl "$here/crl/"
cat >"$here/README.txt" <<EOF
Fixtures signed by poppler's pdfsig (an independent PAdES producer)
===================================================================

Made by testdata/pdfsig/make.sh on $signed_at with $poppler.
Run it again to regenerate everything (new keys, new signatures).

Files
  form.pdf              the unsigned reference form (internal/testsign.Form),
                        with an empty signature field "Signature1"
  signed-field.pdf      form.pdf signed by pdfsig in the existing field
                        "Signature1" (pdfsig -sign Signature1)
  signed-new-field.pdf  form.pdf signed by pdfsig in a new field "PopplerSig"
                        (pdfsig -add-signature); "Signature1" stays unsigned
  root.pem              the trust anchor ("Fixture AC Racine")
  intermediate.pem      the issuing CA ("Fixture AC 2 Etoiles"), also
                        embedded in the signatures
  holder.pem            the signer: Jeanne Dupont, jeanne.dupont@example.fr,
                        serial $serial, policy 1.2.250.1.96.1.7.2.4.1
  crl/                  the root's and the intermediate's CRLs (DER), listing
                        nothing, valid 2029-12-31 to 2030-02-01: they vouch
                        for the chain at the validation time below

How they were made
  internal/testsign/cmd/mkfixture wrote an RSA-2048 PKI whose validity starts
  on 2025-01-01T00:00:00Z (root 30 years, intermediate 28, holder 25) with
  no CRL distribution point nor OCSP URL, and the reference form whose
  certificat_numero_serie is the holder's serial. The holder's key went into
  an NSS database (openssl pkcs12 -export, pk12util, certutil -N
  --empty-password) and pdfsig signed: adbe.pkcs7.detached, SHA-256, RSA
  PKCS #1 v1.5, signingTime = the time of signing, no time-stamp, no
  revocation data. pdfsig 22.12 ignores -etsi with -sign and refuses it
  with -add-signature, so there is no CAdES fixture from it. Fontconfig saw
  no font, so the new field's appearance embeds none (the file stays small).

Verifying
  Use the fixed validation time 2030-01-01T00:00:00Z (any time after the
  signing and before 2049-12-31 works), root.pem as the only trust anchor,
  and no network. The certificates name no revocation service: give crl/
  as the CRL folder (revokd verify --crl-dir testdata/pdfsig/crl), else
  the revocation status is unknown. pdfsig agrees
  (digest and chain) with an NSS database that trusts root.pem:
    certutil -N -d sql:DIR --empty-password
    certutil -A -d sql:DIR -n root -t "CT,C,C" -a -i root.pem
    pdfsig -nssdir sql:DIR signed-field.pdf
EOF
echo "make.sh: wrote $(cd "$here" && ls *.pdf *.pem crl/*.crl README.txt | tr '\n' ' ')"
