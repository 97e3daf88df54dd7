package pdfverify

import (
	"bytes"
	"fmt"

	"github.com/revokd/revokd/pdfverify/internal/cades"
)

// splitContents returns the CMS a signature's /Contents holds, or why the
// string holds something else. /Contents is reserved before signing and
// filled afterwards, so producers pad it with zero bytes; the rule is one
// BER or DER element, then zero bytes only. Anything else after the CMS
// is data no verifier looks at and some other program might: refused.
func splitContents(contents []byte) (cms []byte, problem string) {
	element, rest, err := cades.SplitElement(contents)
	if err != nil {
		return nil, "the signature's /Contents does not start with one CMS structure: " + err.Error()
	}
	for i, c := range rest {
		if c != 0 {
			return nil, fmt.Sprintf("the signature's /Contents holds %d byte(s) that are not zero padding after its CMS (the first at byte %d)",
				len(bytes.TrimRight(rest, "\x00"))-i, len(element)+i)
		}
	}
	return element, ""
}
