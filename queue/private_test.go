package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The store holds every raw mail, PDF and address: its files are created
// 0600 whatever the folder's mode and the umask, the folder is tightened,
// and a folder others may write to is refused.
func TestOpenMakesTheStorePrivate(t *testing.T) {
	tests := []struct {
		name     string
		dirMode  os.FileMode
		oldDB    os.FileMode // mode of a database already there; 0 for none
		wantErr  string
		wantDirs os.FileMode
	}{
		{name: "ok/folder-0755-from-an-installer", dirMode: 0o755, wantDirs: 0o700},
		{name: "ok/folder-0750", dirMode: 0o750, wantDirs: 0o700},
		{name: "ok/private-folder", dirMode: 0o700, wantDirs: 0o700},
		{name: "ok/database-0644-from-an-older-revokd", dirMode: 0o700, oldDB: 0o644, wantDirs: 0o700},
		{name: "fail/folder-others-may-write", dirMode: 0o777, wantErr: "may write"},
		{name: "fail/folder-the-group-may-write", dirMode: 0o770, wantErr: "may write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if tt.oldDB != 0 {
				s, err := Open(context.Background(), dir)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				for _, f := range []string{DatabaseFile, DatabaseFile + "-wal", DatabaseFile + "-shm"} {
					os.Chmod(filepath.Join(dir, f), tt.oldDB)
				}
			}
			// Chmod, not Mkdir's mode: the umask would clear bits.
			if err := os.Chmod(dir, tt.dirMode); err != nil {
				t.Fatal(err)
			}
			s, err := Open(context.Background(), dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open() error = %v, want one containing %q", err, tt.wantErr)
				}
				if _, err := os.Stat(filepath.Join(dir, DatabaseFile)); err == nil {
					t.Errorf("Open() refused the folder but created %s", DatabaseFile)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open() error = %v", err)
			}
			defer s.Close()
			if _, err := s.db.Exec(`CREATE TABLE IF NOT EXISTS probe (x)`); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{DatabaseFile, DatabaseFile + "-wal", DatabaseFile + "-shm"} {
				fi, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Errorf("%s: %v", f, err)
					continue
				}
				if perm := fi.Mode().Perm(); perm != 0o600 {
					t.Errorf("%s has mode %04o, want 0600", f, perm)
				}
			}
			if fi, _ := os.Stat(dir); fi.Mode().Perm() != tt.wantDirs {
				t.Errorf("folder mode %04o, want %04o", fi.Mode().Perm(), tt.wantDirs)
			}
		})
	}
}
