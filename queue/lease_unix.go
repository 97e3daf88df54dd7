//go:build unix

package queue

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive flock(2) on f without waiting; false when
// another open file holds it. The kernel drops the lock when f is closed
// or the process ends, however it ends.
func lockFile(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// canWrite reports whether this process may write to path (access(2),
// which also sees an immutable file, even for root).
func canWrite(path string) bool { return unix.Access(path, unix.W_OK) == nil }
