package cades

import (
	"errors"
	"fmt"
)

// maxNesting bounds how deep constructed elements may nest. A PAdES CMS with
// a signature timestamp nests about 25 levels (the token's certificates sit
// inside the outer SignerInfo's unsigned attributes); 64 leaves room for odd
// producers while stopping a hostile input from recursing once per two bytes.
const maxNesting = 64

// maxTagBytes bounds a high-tag-number identifier: encoding/asn1 only
// accepts tags that fit in 31 bits, which take at most 5 bytes.
const maxTagBytes = 5

// maxLengthBytes bounds the long form of a length: four bytes already
// describe 4 GiB, far beyond maxSignatureBytes.
const maxLengthBytes = 4

const (
	tagOctetString            = 0x04
	tagConstructedOctetString = 0x24
)

// toDER rewrites one BER element as DER so that encoding/asn1 can decode it:
// indefinite lengths become definite, long-form lengths become minimal and
// constructed OCTET STRINGs (split in segments by streaming producers)
// become primitive. It does not sort SET OF members: a signature covers the
// signer's encoding, and the signed attributes are re-encoded separately.
// Input that is already DER is returned unchanged without copying.
//
// go.mozilla.org/pkcs7 has its own converter, but it takes quadratic time on
// indefinite-length input (it searches the rest of the buffer for every
// end-of-contents marker) and recurses without a depth limit; this one is
// linear, bounded by maxNesting, and rejects what it cannot convert.
//
// The bytes after the element are returned in rest.
func toDER(ber []byte) (der, rest []byte, err error) {
	der, n, _, err := convertElement(ber, 0)
	if err != nil {
		return nil, nil, err
	}
	return der, ber[n:], nil
}

// header is the identifier and length octets of one element.
type header struct {
	tag         []byte // the identifier octets, as found
	constructed bool
	indefinite  bool
	length      int // content length, when definite
	minimal     bool
	size        int // bytes taken by identifier and length octets
}

func readHeader(b []byte) (header, error) {
	var h header
	if len(b) < 2 {
		return h, errors.New("truncated element header")
	}
	i := 1
	if b[0]&0x1f == 0x1f {
		for {
			if i >= len(b) {
				return h, errors.New("truncated tag")
			}
			if i > maxTagBytes {
				return h, errors.New("tag number too large")
			}
			c := b[i]
			i++
			if c&0x80 == 0 {
				break
			}
		}
	}
	h.tag = b[:i]
	h.constructed = b[0]&0x20 != 0
	if i >= len(b) {
		return h, errors.New("truncated length")
	}
	l := b[i]
	i++
	h.minimal = true
	switch {
	case l < 0x80:
		h.length = int(l)
	case l == 0x80:
		if !h.constructed {
			return h, errors.New("indefinite length on a primitive element")
		}
		h.indefinite = true
		h.minimal = false
	case l == 0xff:
		return h, errors.New("reserved length octet")
	default:
		n := int(l & 0x7f)
		if n > maxLengthBytes {
			return h, fmt.Errorf("length of %d octets is too long", n)
		}
		if i+n > len(b) {
			return h, errors.New("truncated length")
		}
		length := 0
		for _, c := range b[i : i+n] {
			length = length<<8 | int(c)
		}
		i += n
		h.length = length
		// DER wants the shortest form: no leading zero octet and no
		// long form for lengths under 128.
		h.minimal = b[i-n] != 0 && length >= 0x80
	}
	h.size = i
	if !h.indefinite && h.length > len(b)-i {
		return h, errors.New("length exceeds the data")
	}
	return h, nil
}

// convertElement converts the element at the start of b. It returns its DER
// encoding, the number of input bytes it took, and whether the encoding
// differs from the input.
func convertElement(b []byte, depth int) (der []byte, n int, changed bool, err error) {
	if depth > maxNesting {
		return nil, 0, false, fmt.Errorf("elements nested deeper than %d", maxNesting)
	}
	h, err := readHeader(b)
	if err != nil {
		return nil, 0, false, err
	}
	if !h.constructed {
		end := h.size + h.length
		if h.minimal {
			return b[:end], end, false, nil
		}
		return appendElement(nil, h.tag, b[h.size:end]), end, true, nil
	}

	// Constructed: convert each child, copying only if one changed.
	var (
		children [][]byte
		anyDiff  = !h.minimal
		pos      = h.size
		end      = h.size + h.length
	)
	for {
		if h.indefinite {
			if len(b)-pos < 2 {
				return nil, 0, false, errors.New("missing end-of-contents")
			}
			if b[pos] == 0 && b[pos+1] == 0 {
				pos += 2
				break
			}
		} else if pos >= end {
			break
		}
		limit := len(b)
		if !h.indefinite {
			limit = end
		}
		child, cn, cchanged, err := convertElement(b[pos:limit], depth+1)
		if err != nil {
			return nil, 0, false, err
		}
		children = append(children, child)
		anyDiff = anyDiff || cchanged
		pos += cn
	}

	if len(h.tag) == 1 && h.tag[0] == tagConstructedOctetString {
		// A segmented OCTET STRING: its value is the concatenation of its
		// segments, which must themselves be OCTET STRINGs.
		var value []byte
		for _, c := range children {
			if c[0] != tagOctetString {
				return nil, 0, false, errors.New("constructed OCTET STRING holds a non-OCTET STRING segment")
			}
			ch, err := readHeader(c)
			if err != nil {
				return nil, 0, false, err
			}
			value = append(value, c[ch.size:ch.size+ch.length]...)
		}
		return appendElement(nil, []byte{tagOctetString}, value), pos, true, nil
	}
	if !anyDiff {
		return b[:pos], pos, false, nil
	}
	total := 0
	for _, c := range children {
		total += len(c)
	}
	out := appendHeader(make([]byte, 0, len(h.tag)+6+total), h.tag, total)
	for _, c := range children {
		out = append(out, c...)
	}
	return out, pos, true, nil
}

func appendElement(dst, tag, content []byte) []byte {
	dst = appendHeader(dst, tag, len(content))
	return append(dst, content...)
}

func appendHeader(dst, tag []byte, length int) []byte {
	dst = append(dst, tag...)
	if length < 0x80 {
		return append(dst, byte(length))
	}
	var buf [8]byte
	n := 0
	for l := length; l > 0; l >>= 8 {
		n++
	}
	for i := range n {
		buf[i] = byte(length >> (8 * (n - 1 - i)))
	}
	dst = append(dst, 0x80|byte(n))
	return append(dst, buf[:n]...)
}
