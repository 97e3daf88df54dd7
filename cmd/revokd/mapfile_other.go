//go:build !unix

package main

import (
	"os"

	"github.com/revokd/revokd/pdfverify"
)

// readPDF returns the contents of f, at most max bytes.
func readPDF(f *os.File, max int64) (data []byte, release func(), err error) {
	data, err = pdfverify.ReadAll(f, max)
	return data, func() {}, err
}
