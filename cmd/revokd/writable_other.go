//go:build !unix

package main

// writable reports whether this process may create files in dir; where
// there is no access(2), opening the store tells.
func writable(dir string) bool { return true }
