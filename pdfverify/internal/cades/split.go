package cades

// SplitElement returns the first BER or DER element of b (as it is
// encoded, indefinite lengths included) and the bytes after it. A PDF
// signature's /Contents holds one such element and padding; the caller
// decides what padding it allows. A definite length is read from the
// header alone (what is inside is checked when the CMS is parsed); an
// indefinite one is walked, bounded like every BER conversion here.
func SplitElement(b []byte) (element, rest []byte, err error) {
	if len(b) > maxSignatureBytes {
		return nil, nil, errorf(Malformed, "signature of %d bytes exceeds the limit of %d", len(b), maxSignatureBytes)
	}
	h, err := readHeader(b)
	if err != nil {
		return nil, nil, err
	}
	n := h.size + h.length
	if h.indefinite {
		if _, n, _, err = convertElement(b, 0); err != nil {
			return nil, nil, err
		}
	}
	return b[:n], b[n:], nil
}
