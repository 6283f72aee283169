package storecheck

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// soundFile writes a bbolt file with enough data to span many pages.
func soundFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("logs"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put(fmt.Appendf(nil, "key-%06d", i), make([]byte, 200)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())
	return path
}

func TestCheckAcceptsSoundAndMissingFiles(t *testing.T) {
	require.NoError(t, Check(soundFile(t), time.Second))
	require.NoError(t, Check(filepath.Join(t.TempDir(), "absent.db"), time.Second))
}

func TestCheckReportsDamage(t *testing.T) {
	cases := map[string]func(t *testing.T, path string){
		"empty": func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 0)) },
		"truncated to a page": func(t *testing.T, path string) {
			require.NoError(t, os.Truncate(path, 4096))
		},
		"truncated by half": func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/2))
		},
		"garbled meta pages": func(t *testing.T, path string) { garble(t, path, 0, 2*4096) },
		"garbled data pages": func(t *testing.T, path string) { garble(t, path, 2*4096, 64*4096) },
		"garbled everywhere": func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			garble(t, path, 0, fi.Size())
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := soundFile(t)
			damage(t, path)
			err := Check(path, time.Second)
			require.ErrorIs(t, err, ErrDamaged)
			require.Contains(t, err.Error(), path)
		})
	}
}

// garble overwrites bytes [from, to) of the file with a fixed pattern.
func garble(t *testing.T, path string, from, to int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	junk := make([]byte, to-from)
	for i := range junk {
		junk[i] = byte(i*7 + 13)
	}
	_, err = f.WriteAt(junk, from)
	require.NoError(t, err)
}

func TestCheckReportsLock(t *testing.T) {
	path := soundFile(t)
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	require.ErrorIs(t, Check(path, 50*time.Millisecond), ErrLocked)
}
