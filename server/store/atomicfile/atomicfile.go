// Package atomicfile writes files so that a crash or a power cut leaves
// the old content or the new, never half of either, and — once WriteFile
// returns — the new content for good. It owns nothing but that.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile writes data to a temporary file beside path with mode, syncs
// it, renames it over path and syncs the directory: without that last
// sync the rename itself may not survive a power cut, and a caller that
// goes on to depend on the new content (the store sealing Secrets with a
// key just written to the key ring) could be left with the old file.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return writeFile(path, data, mode, SyncDir)
}

// writeFile is WriteFile with the directory sync passed in, for tests.
func writeFile(path string, data []byte, mode os.FileMode, syncDir func(dir string) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err = tmp.Chmod(mode); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// SyncDir fsyncs the directory dir, making the creation, removal and
// renaming of its entries durable. A filesystem that cannot sync a
// directory (EINVAL, as 9p, vboxsf and some FUSE ones answer) is not an
// error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
