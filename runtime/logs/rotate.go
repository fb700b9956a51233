package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// rotatedName is the name of the n-th newest rotated file of path.
func rotatedName(path string, n int) string {
	return fmt.Sprintf("%s.%d", path, n)
}

// rotate shifts path.1 … path.(MaxFiles-1) up by one, dropping the oldest,
// moves the live file to path.1 and opens a new live file.
func (w *Writer) rotate() error {
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("log writer %s: rotate: %w", w.path, err)
	}
	for n := w.opts.MaxFiles; n > 1; n-- {
		err := os.Rename(rotatedName(w.path, n-1), rotatedName(w.path, n))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("log writer %s: rotate: %w", w.path, err)
		}
	}
	if err := os.Rename(w.path, rotatedName(w.path, 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("log writer %s: rotate: %w", w.path, err)
	}
	return w.open()
}
