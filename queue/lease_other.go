//go:build !unix

package queue

import (
	"errors"
	"os"
)

// lockFile is not available here: revokd run needs flock(2).
func lockFile(f *os.File) (bool, error) {
	return false, errors.New("file locks are not supported on this system")
}

// canWrite cannot tell here; writes will.
func canWrite(string) bool { return true }
