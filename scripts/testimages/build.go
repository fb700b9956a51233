package testimages

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Build writes every image of Images to dir as NAME.tar, creating dir,
// and returns each image's reference (Ref(Name)) and tarball path.
func Build(dir string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("build test images in %s: %w", dir, err)
	}
	out := map[string]string{}
	for _, img := range Images() {
		path := filepath.Join(dir, img.Name+".tar")
		if err := writeFile(path, img); err != nil {
			return nil, err
		}
		out[Ref(img.Name)] = path
	}
	return out, nil
}

// writeFile writes one image to path through a temporary file, so that a
// reader never sees half a tarball.
func writeFile(path string, img Spec) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write test image %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	err = Write(bw, img)
	if err == nil {
		err = bw.Flush()
	}
	if err = errors.Join(err, tmp.Chmod(0o644), tmp.Close()); err != nil {
		return fmt.Errorf("write test image %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write test image %s: %w", path, err)
	}
	return nil
}
