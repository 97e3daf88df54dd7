//go:build unix

package main

import (
	"os"
	"syscall"

	"github.com/revokd/revokd/pdfverify"
)

// readPDF returns the contents of f, at most max bytes, and a function that
// releases them. A regular file is mapped rather than copied: the copy's
// fresh pages cost more than the verification of a large form, while the
// mapping shares the pages the kernel already caches. The file must not be
// truncated while it is verified; a read past its new end faults. Anything
// else (a pipe, an empty or oversize file, a failed mapping) goes through
// pdfverify.ReadAll, which also refuses what is over max.
func readPDF(f *os.File, max int64) (data []byte, release func(), err error) {
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 && fi.Size() <= max {
		if data, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_PRIVATE); err == nil {
			return data, func() { syscall.Munmap(data) }, nil
		}
	}
	data, err = pdfverify.ReadAll(f, max)
	return data, func() {}, err
}
