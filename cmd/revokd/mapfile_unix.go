//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"

	"github.com/revokd/revokd/pdfverify"
)

// readPDF returns the contents of f, at most max bytes, and a function that
// releases them. A regular file is mapped rather than copied: the copy's
// fresh pages cost more than the verification of a large form, while the
// mapping shares the pages the kernel already caches. The file must not be
// truncated while it is verified; a read past its new end faults.
func readPDF(f *os.File, max int64) (data []byte, release func(), err error) {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		data, err := pdfverify.ReadAll(f, max)
		return data, func() {}, err
	}
	if fi.Size() > max {
		return nil, nil, fmt.Errorf("%w: %d bytes, more than %d", pdfverify.ErrTooLarge, fi.Size(), max)
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		data, err := pdfverify.ReadAll(f, max)
		return data, func() {}, err
	}
	return data, func() { syscall.Munmap(data) }, nil
}
