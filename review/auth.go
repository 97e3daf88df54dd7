package review

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters of a password hash.
type Argon2Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8
}

// DefaultArgon2 follows RFC 9106's second recommended option (64 MiB,
// three passes): a login costs a fraction of a second on the desk's
// server, a guess as much for whoever stole the store.
var DefaultArgon2 = Argon2Params{Time: 3, MemoryKiB: 64 << 10, Threads: 2}

const (
	saltLen = 16
	keyLen  = 32
	// maxPasswordBytes bounds what is hashed: a megabyte "password" would
	// cost the server nothing more with argon2, but nobody types one.
	maxPasswordBytes = 1024
	// minPasswordRunes is the shortest password an account may get.
	minPasswordRunes = 12
)

// CheckPasswordPolicy says why a new password is not acceptable, or nil.
func CheckPasswordPolicy(pw string) error {
	switch {
	case len([]rune(pw)) < minPasswordRunes:
		return fmt.Errorf("the password must have at least %d characters", minPasswordRunes)
	case len(pw) > maxPasswordBytes:
		return fmt.Errorf("the password must have at most %d bytes", maxPasswordBytes)
	}
	return nil
}

// HashPassword returns the argon2id hash of pw as a PHC string
// ($argon2id$v=19$m=...,t=...,p=...$salt$key).
func HashPassword(pw string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hashing a password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// errBadHash is a stored hash that does not read: the account cannot log
// in until it is reset.
var errBadHash = errors.New("stored password hash does not read")

// VerifyPassword reports whether pw matches the PHC string hash.
func VerifyPassword(pw, hash string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, errBadHash
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false, errBadHash
	}
	// The parameters come from the store, which only revokd writes; a
	// bound still keeps a damaged row from allocating gigabytes.
	if p.Time == 0 || p.Time > 16 || p.MemoryKiB == 0 || p.MemoryKiB > 1<<20 || p.Threads == 0 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	if len(pw) > maxPasswordBytes {
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// TOTP, RFC 6238 with its defaults (HMAC-SHA-1, 30-second steps, six
// digits), which every authenticator app reads from an otpauth:// URI.
const (
	totpStep   = 30 * time.Second
	totpDigits = 6
	// totpSkew accepts the code of the step before and after the current
	// one: a phone's clock a few seconds off, a code typed as it turns.
	totpSkew = 1
	// totpSecretBytes is RFC 4226's recommended 160-bit key.
	totpSecretBytes = 20
)

var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a fresh TOTP key, base32 without padding.
func NewTOTPSecret() (string, error) {
	b := make([]byte, totpSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a TOTP key: %w", err)
	}
	return totpEncoding.EncodeToString(b), nil
}

// hotp is RFC 4226's HOTP value of key at counter.
func hotp(key []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	s := strconv.FormatUint(uint64(v%1_000_000), 10)
	return strings.Repeat("0", totpDigits-len(s)) + s
}

// TOTPCode returns the code of secret at t.
func TOTPCode(secret string, t time.Time) (string, error) {
	key, err := totpEncoding.DecodeString(strings.ToUpper(secret))
	if err != nil {
		return "", fmt.Errorf("TOTP key does not read: %w", err)
	}
	return hotp(key, uint64(t.Unix())/uint64(totpStep/time.Second)), nil
}

// verifyTOTP checks code against secret at now and returns the time step
// it matched, so that the caller can refuse the same code twice.
func verifyTOTP(secret, code string, now time.Time) (step uint64, ok bool) {
	key, err := totpEncoding.DecodeString(strings.ToUpper(secret))
	if err != nil || len(key) == 0 {
		return 0, false
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != totpDigits {
		return 0, false
	}
	cur := uint64(now.Unix()) / uint64(totpStep/time.Second)
	for d := -totpSkew; d <= totpSkew; d++ {
		s := cur + uint64(d)
		if subtle.ConstantTimeCompare([]byte(hotp(key, s)), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// TOTPURI is the enrolment URI of an account's TOTP key, for an
// authenticator app (as a QR code or typed in).
func TOTPURI(issuer, name, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", strconv.Itoa(totpDigits))
	v.Set("period", strconv.Itoa(int(totpStep/time.Second)))
	return "otpauth://totp/" + url.PathEscape(issuer+":"+name) + "?" + v.Encode()
}
