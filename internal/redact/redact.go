// Package redact turns personal data into what INFO logs may carry.
// Logs are kept longer and shipped more widely than the store, so they
// name a sender or recipient by a short hash: lines about one person can
// be told apart and matched against the store, which holds the address,
// without the address being written anywhere else.
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Address returns the first 12 hex digits of the SHA-256 of an e-mail
// address in lower case, "" for no address. The hash is not secret:
// whoever holds a candidate address can check it; it only keeps
// addresses from being read off the logs.
func Address(addr string) string {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(strings.ToLower(addr)))
	return hex.EncodeToString(sum[:6])
}
