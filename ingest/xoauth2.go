package ingest

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/emersion/go-sasl"
)

// XOAUTH2 is Google's and Microsoft's SASL mechanism for OAuth 2.0 bearer
// tokens (Gmail, Microsoft 365 / Exchange Online), described at
// https://developers.google.com/gmail/imap/xoauth2-protocol and in
// Microsoft's "Authenticate an IMAP, POP or SMTP connection using OAuth".
// go-sasl dropped its implementation in favour of the standard OAUTHBEARER
// (RFC 7628), which neither of those providers accepts for IMAP, so the few
// lines of the mechanism live here.
//
// The client sends one initial response,
//
//	"user=" user "\x01auth=Bearer " token "\x01\x01"
//
// (base64-encoded by the IMAP layer). On success the server answers OK. On
// failure it first sends a challenge holding a JSON error object (status,
// schemes, scope), to which the client must answer with an empty response;
// the server then ends the exchange with NO. The JSON is kept so the final
// error says why the token was refused.
const xoauth2Mech = "XOAUTH2"

// maxXOAUTH2ErrorBytes bounds the server's error JSON kept for the error
// message: it is a few dozen bytes in practice, and an error string must not
// grow with whatever a server sends.
const maxXOAUTH2ErrorBytes = 512

// errXOAUTH2Field is returned when a user name or token would break the
// mechanism's \x01-separated framing.
var errXOAUTH2Field = errors.New("user name or token contains a control character")

// xoauth2Client is a sasl.Client for XOAUTH2.
type xoauth2Client struct {
	user, token string
	// serverError is the decoded error challenge, when the server sent one.
	serverError string
}

var _ sasl.Client = (*xoauth2Client)(nil)

func newXOAUTH2Client(user, token string) *xoauth2Client {
	return &xoauth2Client{user: user, token: token}
}

// Start returns the mechanism's only client message.
func (c *xoauth2Client) Start() (string, []byte, error) {
	if c.user == "" || c.token == "" {
		return "", nil, errors.New("empty user name or token")
	}
	// The token is a bearer credential: a control character in it (a bad
	// token file with a trailing newline, say) would either corrupt the
	// framing or leak into logs of a confused server. Refuse instead.
	if strings.ContainsFunc(c.user, unicode.IsControl) || strings.ContainsFunc(c.token, unicode.IsControl) {
		return "", nil, errXOAUTH2Field
	}
	ir := "user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"
	return xoauth2Mech, []byte(ir), nil
}

// Next answers the server's error challenge with the empty response the
// providers require, remembering the error for the caller.
//
// QUIRK: go-imap encodes an empty continuation response as "=" (RFC 4959's
// spelling for an empty initial response) rather than an empty line. Gmail,
// Microsoft 365 and Dovecot all end the exchange with a tagged NO or BAD
// either way, which is all the client needs: authentication has failed.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if c.serverError != "" {
		// A second challenge is not part of the mechanism: abort rather than
		// loop with a server that keeps asking.
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	if len(challenge) > maxXOAUTH2ErrorBytes {
		challenge = challenge[:maxXOAUTH2ErrorBytes]
	}
	c.serverError = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, string(challenge))
	if c.serverError == "" {
		c.serverError = "(empty challenge)"
	}
	return []byte{}, nil
}

// wrap adds the server's error JSON, if any, to an authentication error.
func (c *xoauth2Client) wrap(err error) error {
	if c.serverError == "" {
		return fmt.Errorf("XOAUTH2 authentication: %w", err)
	}
	return fmt.Errorf("XOAUTH2 authentication: %w (server said %s)", err, c.serverError)
}
