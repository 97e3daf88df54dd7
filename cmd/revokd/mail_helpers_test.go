package main

import (
	"encoding/base64"
	"fmt"
	"strings"
)

func pctEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func appendBase64Lines(dst, src []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(src)
	for len(enc) > 76 {
		dst = append(dst, enc[:76]...)
		dst = append(dst, '\r', '\n')
		enc = enc[76:]
	}
	dst = append(dst, enc...)
	return append(dst, '\r', '\n')
}
