package remote

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// tarTree writes the tree under dir to w as an uncompressed tar:
// directories, regular files with their permission bits and modification
// times, and symlinks as symlinks (their target as written, never
// followed). Sockets, devices and pipes are left out, as COPY leaves them
// out. Names are slash paths relative to dir, which is not an entry
// itself. An error reading the tree is a *sourceError; an error of w is
// returned as it is.
func tarTree(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return &sourceError{err}
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return &sourceError{err}
		}
		info, err := d.Info()
		if err != nil {
			return &sourceError{err}
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: tarMode(info.Mode()), ModTime: info.ModTime().Truncate(time.Second)}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case mode.IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
		case mode&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return &sourceError{err}
			}
		default:
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return &sourceError{err}
		}
		defer f.Close()
		if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
			if errors.Is(err, io.EOF) {
				return &sourceError{fmt.Errorf("%s: the file shrank while it was being sent", p)}
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// sourceError is a failure to read the source tree (not to send it).
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// tarMode is mode's permission and setuid/setgid/sticky bits in tar's
// (and chmod's) numbering.
func tarMode(mode fs.FileMode) int64 {
	m := int64(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

// fileMode is the inverse of tarMode.
func fileMode(m int64) fs.FileMode {
	mode := fs.FileMode(m) & fs.ModePerm
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// limits bound an unpacked tree.
type limits struct {
	maxBytes int64 // the sum of the regular files' sizes
	maxFiles int   // entries of any type
}

// limitError is a tree over its limits.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// unpacked is what unpackTree wrote.
type unpacked struct {
	files int
	bytes int64
}

// unpackTree reads the tar r into dir, an empty directory: only
// directories, regular files and symlinks, with their modes and
// modification times (owners are not kept). It refuses, with an error
// naming the entry, absolute names, names with "..", entries written
// through a symlink or over a directory, and other entry types; it stops
// as soon as the tree breaks lim (a *limitError). All writes go through an
// os.Root of dir besides, so nothing can land outside it. On error, what
// was written is left for the caller to remove with dir.
func unpackTree(r io.Reader, dir string, lim limits) (unpacked, error) {
	var got unpacked
	root, err := os.OpenRoot(dir)
	if err != nil {
		return got, err
	}
	defer root.Close()
	type dirMeta struct {
		name  string
		mode  fs.FileMode
		mtime time.Time
	}
	var dirMetas []dirMeta
	// dirs are the directories known to exist as real directories
	// (never symlinks); "." is dir itself.
	dirs := map[string]bool{".": true}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return got, fmt.Errorf("read the source tree's tar: %w", err)
		}
		got.files++
		if got.files > lim.maxFiles {
			return got, &limitError{fmt.Sprintf("the source tree has more than %d files and directories, the most a build accepts; remove files from the repository or list them in .dockerignore", lim.maxFiles)}
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return got, err
		}
		if name == "." {
			if hdr.Typeflag != tar.TypeDir {
				return got, fmt.Errorf("tar entry %q: names the tree's own directory but is not a directory", hdr.Name)
			}
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeReg, tar.TypeSymlink:
		default:
			return got, fmt.Errorf("tar entry %q: type %q is not accepted; a source tree holds regular files, directories and symlinks only", hdr.Name, hdr.Typeflag)
		}
		if err := ensureParents(root, dirs, name); err != nil {
			return got, fmt.Errorf("tar entry %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			if !dirs[name] {
				if err := root.Mkdir(name, 0o700); err != nil {
					if fi, lerr := root.Lstat(name); lerr != nil || !fi.IsDir() {
						return got, fmt.Errorf("tar entry %q: %w", hdr.Name, err)
					}
				}
				dirs[name] = true
			}
			dirMetas = append(dirMetas, dirMeta{name, fileMode(hdr.Mode), hdr.ModTime})
			continue
		}
		// A file or symlink replaces what an earlier entry of the same
		// name wrote, unless that is a directory.
		if dirs[name] {
			return got, fmt.Errorf("tar entry %q: a directory of that name is already in the tree", hdr.Name)
		}
		if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return got, fmt.Errorf("tar entry %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeSymlink {
			if hdr.Linkname == "" {
				return got, fmt.Errorf("tar entry %q: a symlink with no target", hdr.Name)
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return got, fmt.Errorf("tar entry %q: %w", hdr.Name, err)
			}
			continue
		}
		if hdr.Size > lim.maxBytes-got.bytes {
			return got, &limitError{fmt.Sprintf("the source tree is larger than %d bytes (at %s), the most a build accepts; remove large files from the repository or list them in .dockerignore", lim.maxBytes, hdr.Name)}
		}
		if err := writeEntry(root, name, tr, fileMode(hdr.Mode), hdr.ModTime); err != nil {
			return got, fmt.Errorf("tar entry %q: %w", hdr.Name, err)
		}
		got.bytes += hdr.Size
	}
	// Directories last: their files are written, and a read-only one
	// no longer needs to take them.
	for i := len(dirMetas) - 1; i >= 0; i-- {
		d := dirMetas[i]
		if err := root.Chmod(d.name, d.mode); err != nil {
			return got, fmt.Errorf("tar entry %q: %w", d.name, err)
		}
		if err := root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
			return got, fmt.Errorf("tar entry %q: %w", d.name, err)
		}
	}
	return got, nil
}

// entryName is a tar name as a clean relative slash path ("." for the
// tree itself), or an error saying why it may not be in a tree.
func entryName(name string) (string, error) {
	if name == "" {
		return "", errors.New("tar entry with an empty name")
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("tar entry %q: a name with a NUL byte", name)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("tar entry %q: an absolute path; the entries of a source tree are relative to it", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("tar entry %q: \"..\" would leave the source tree", name)
		}
	}
	return path.Clean(name), nil
}

// ensureParents makes the directories above name, refusing to go through
// a symlink or a file.
func ensureParents(root *os.Root, dirs map[string]bool, name string) error {
	parent := path.Dir(name)
	if dirs[parent] {
		return nil
	}
	var walked string
	for _, part := range strings.Split(parent, "/") {
		walked = path.Join(walked, part)
		if dirs[walked] {
			continue
		}
		fi, err := root.Lstat(walked)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := root.Mkdir(walked, 0o755); err != nil {
				return err
			}
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symlink: an entry may not be written through a symlink", walked)
		case !fi.IsDir():
			return fmt.Errorf("%s is a file, not a directory", walked)
		}
		dirs[walked] = true
	}
	return nil
}

// writeEntry writes a regular file of the tree.
func writeEntry(root *os.Root, name string, r io.Reader, mode fs.FileMode, mtime time.Time) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err := errors.Join(err, f.Close()); err != nil {
		return err
	}
	if err := root.Chmod(name, mode); err != nil {
		return err
	}
	return root.Chtimes(name, mtime, mtime)
}
