package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/continuity/fs"
)

// copyOwner is who copied files belong to, and the mode --chmod gives them.
type copyOwner struct {
	uid, gid int
	chown    bool          // --chown given: it overrides an archive's owners too
	mode     iofs.FileMode // 0: keep the source's
}

// source is where COPY reads: the build context (through an os.Root, so no
// symlink leads out of it, and honoring .dockerignore) or a mounted stage or
// image rootfs (paths resolved inside it with fs.RootPath).
type source struct {
	root *os.Root      // the context
	cx   *buildContext // its .dockerignore-filtered listing
	dir  string        // a mounted rootfs, when root is nil
}

// copyStep applies COPY or ADD to the mounted rootfs root.
func (e *execution) copyStep(ctx context.Context, root string, cur *stageOut, step Step, from *stageOut) error {
	own, err := owner(root, step.Chown, step.Chmod)
	if err != nil {
		return err
	}
	if from != nil {
		if from.snapshot == "" {
			return errors.New("the --from stage or image is empty (FROM scratch with no files)")
		}
		sn := e.b.Client.SnapshotService(e.b.snapshotter())
		view := "skiff-build-view-" + randomID()
		mounts, err := sn.View(ctx, view, from.snapshot)
		if err != nil {
			return fmt.Errorf("view --from snapshot: %w", err)
		}
		defer func() {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			sn.Remove(cctx, view)
		}()
		return withMounted(mounts, true, func(dir string) error {
			return e.copySources(ctx, root, cur, step, own, &source{dir: dir})
		})
	}
	r, err := os.OpenRoot(e.req.ContextDir)
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	defer r.Close()
	cx, err := openContext(e.req.ContextDir)
	if err != nil {
		return err
	}
	if err := cx.walk(); err != nil {
		return err
	}
	return e.copySources(ctx, root, cur, step, own, &source{root: r, cx: cx})
}

// match is one source path COPY selected, relative to its source root.
type match struct {
	rel  string
	info iofs.FileInfo // with a top-level symlink followed
}

func (e *execution) copySources(ctx context.Context, root string, cur *stageOut, step Step, own copyOwner, src *source) error {
	var matches []match
	for _, s := range step.Args {
		rel := sourceRel(s)
		ms, err := src.expand(rel)
		if err != nil {
			return err
		}
		matches = append(matches, ms...)
	}
	// A wildcard may match nothing (package*.json, go.sum*) as long as
	// something is copied, as Docker has it.
	if len(matches) == 0 {
		return fmt.Errorf("no source files match %q", step.Args)
	}
	dest := cur.abs(step.Dest)
	destDir := strings.HasSuffix(dest, "/")
	if len(matches) > 1 && !destDir {
		return fmt.Errorf("destination %s must be a directory ending in / when copying %d sources", step.Dest, len(matches))
	}
	for _, m := range matches {
		if err := ctx.Err(); err != nil {
			return err
		}
		if m.info.IsDir() {
			if err := src.copyTree(root, m.rel, dest, own); err != nil {
				return err
			}
			continue
		}
		target := dest
		if destDir || isDirIn(root, dest) {
			target = path.Join(dest, path.Base(m.rel))
		}
		if step.Extract {
			ok, err := src.extractIfArchive(root, m.rel, dest, own)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		if err := src.copyEntry(root, m.rel, m.info, target, own); err != nil {
			return err
		}
	}
	return nil
}

// expand lists what one source selects: the path itself, or for a
// wildcard the entries of the directory it names that match.
func (s *source) expand(rel string) ([]match, error) {
	if !hasWildcard(rel) {
		info, err := s.stat(rel)
		if err != nil {
			return nil, err
		}
		return []match{{rel: rel, info: info}}, nil
	}
	if _, err := path.Match(rel, ""); err != nil {
		return nil, fmt.Errorf("source %q: bad wildcard pattern", rel)
	}
	var rels []string
	if s.root != nil {
		for _, e := range s.cx.entries {
			if ok, _ := path.Match(rel, e.rel); ok {
				rels = append(rels, e.rel)
			}
		}
	} else {
		dir := path.Dir(rel)
		if hasWildcard(dir) {
			return nil, fmt.Errorf("source %q: a wildcard in a directory name of a --from source is not supported; name the directory", rel)
		}
		p, err := fs.RootPath(s.dir, dir)
		if err != nil {
			return nil, err
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", rel, err)
		}
		for _, ent := range ents {
			r := path.Join(dir, ent.Name())
			if ok, _ := path.Match(rel, r); ok {
				rels = append(rels, strings.TrimPrefix(r, "./"))
			}
		}
	}
	sort.Strings(rels)
	var out []match
	for _, r := range rels {
		info, err := s.stat(r)
		if err != nil {
			return nil, err
		}
		out = append(out, match{rel: r, info: info})
	}
	return out, nil
}

// stat follows symlinks, inside the source only.
func (s *source) stat(rel string) (iofs.FileInfo, error) {
	if rel == "" {
		rel = "."
	}
	if s.root != nil {
		info, err := s.root.Stat(filepath.FromSlash(rel))
		if err != nil {
			return nil, fmt.Errorf("source %q is not in the build context (a symlink out of the repository is not followed): %w", rel, err)
		}
		return info, nil
	}
	p, err := fs.RootPath(s.dir, rel)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("source %q: not in the --from filesystem", rel)
	}
	return info, nil
}

// copyTree copies the contents of directory rel into directory dest.
func (s *source) copyTree(root, rel, dest string, own copyOwner) error {
	if err := mkdirOwned(root, dest, own); err != nil {
		return err
	}
	if s.root != nil {
		prefix := rel + "/"
		if rel == "" || rel == "." {
			prefix = ""
		}
		// rel may be a symlink to a directory: list through its target.
		base := rel
		if fi, err := s.root.Lstat(filepath.FromSlash(rel)); err == nil && fi.Mode()&iofs.ModeSymlink != 0 {
			base = s.linkTarget(rel)
			prefix = base + "/"
			if base == "" {
				prefix = ""
			}
		}
		for _, e := range s.cx.entries {
			if prefix != "" && !strings.HasPrefix(e.rel, prefix) {
				continue
			}
			inner := strings.TrimPrefix(e.rel, prefix)
			info, err := s.root.Lstat(filepath.FromSlash(e.rel))
			if err != nil {
				return fmt.Errorf("build context: %w", err)
			}
			if err := s.copyEntry(root, e.rel, info, path.Join(dest, inner), own); err != nil {
				return err
			}
		}
		return nil
	}
	top, err := fs.RootPath(s.dir, rel)
	if err != nil {
		return err
	}
	return filepath.WalkDir(top, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		inner, err := filepath.Rel(top, p)
		if err != nil || inner == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		srcRel, _ := filepath.Rel(s.dir, p)
		return s.copyEntry(root, filepath.ToSlash(srcRel), info, path.Join(dest, filepath.ToSlash(inner)), own)
	})
}

// linkTarget resolves the context symlink rel to a context-relative path
// (clamped to the context, as the cache key does).
func (s *source) linkTarget(rel string) string {
	for range 8 {
		t, err := s.root.Readlink(filepath.FromSlash(rel))
		if err != nil {
			return rel
		}
		if !path.IsAbs(t) {
			t = path.Join(path.Dir(rel), t)
		}
		rel = sourceRel(t)
		fi, err := s.root.Lstat(filepath.FromSlash(rel))
		if err != nil || fi.Mode()&iofs.ModeSymlink == 0 {
			return rel
		}
	}
	return rel
}

// open opens a source file for reading.
func (s *source) open(rel string) (io.ReadCloser, error) {
	if s.root != nil {
		return s.root.Open(filepath.FromSlash(rel))
	}
	p, err := fs.RootPath(s.dir, rel)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

func (s *source) readlink(rel string) (string, error) {
	if s.root != nil {
		return s.root.Readlink(filepath.FromSlash(rel))
	}
	return os.Readlink(filepath.Join(s.dir, filepath.FromSlash(rel)))
}

// copyEntry copies one file, directory (itself, not its contents) or
// symlink to dest in the image.
func (s *source) copyEntry(root, rel string, info iofs.FileInfo, dest string, own copyOwner) error {
	// The parent, resolved inside the rootfs; the last element is not
	// followed (a symlink there is replaced).
	parent, err := fs.RootPath(root, path.Dir(dest))
	if err != nil {
		return err
	}
	target := filepath.Join(parent, path.Base(dest))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	mode := info.Mode()
	perm := mode.Perm() | mode&(iofs.ModeSetuid|iofs.ModeSetgid|iofs.ModeSticky)
	if own.mode != 0 {
		perm = own.mode
	}
	switch {
	case mode.IsDir():
		if fi, err := os.Lstat(target); err == nil && !fi.IsDir() {
			os.Remove(target)
		}
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, iofs.ErrExist) {
			return err
		}
	case mode&iofs.ModeSymlink != 0:
		link, err := s.readlink(rel)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(target); err != nil {
			return err
		}
		if err := os.Symlink(link, target); err != nil {
			return err
		}
		return os.Lchown(target, own.uid, own.gid)
	case mode.IsRegular():
		in, err := s.open(rel)
		if err != nil {
			return fmt.Errorf("source %q: %w", rel, err)
		}
		defer in.Close()
		if fi, err := os.Lstat(target); err == nil && (fi.IsDir() || fi.Mode()&iofs.ModeSymlink != 0) {
			if err := os.RemoveAll(target); err != nil {
				return err
			}
		}
		if err := writeFile(target, in, perm); err != nil {
			return err
		}
	default:
		// Sockets, devices and pipes in the context are not copied.
		return nil
	}
	if err := os.Lchown(target, own.uid, own.gid); err != nil {
		return err
	}
	if err := os.Chmod(target, perm); err != nil {
		return err
	}
	t := info.ModTime()
	return os.Chtimes(target, t, t)
}

func writeFile(target string, in io.Reader, perm iofs.FileMode) error {
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm.Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// isDirIn reports whether p is an existing directory in the rootfs.
func isDirIn(root, p string) bool {
	r, err := fs.RootPath(root, p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(r)
	return err == nil && fi.IsDir()
}

// mkdirIn creates dir (and its parents) in the rootfs, root-owned 0755.
func mkdirIn(root, dir string) error {
	p, err := fs.RootPath(root, dir)
	if err != nil {
		return err
	}
	return os.MkdirAll(p, 0o755)
}

// mkdirOwned creates dir in the rootfs; a directory it creates belongs to
// own, as Docker gives --chown to the destination it makes.
func mkdirOwned(root, dir string, own copyOwner) error {
	p, err := fs.RootPath(root, dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(p); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("destination %s exists and is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	return os.Lchown(p, own.uid, own.gid)
}

// extractIfArchive unpacks a tar archive (plain, gzip or bzip2) into dest,
// as ADD does with a local archive; it reports false for another file.
func (s *source) extractIfArchive(root, rel, dest string, own copyOwner) (bool, error) {
	f, err := s.open(rel)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(512)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, nil
		}
		defer zr.Close()
		r = zr
	case bytes.HasPrefix(head, []byte("BZh")):
		r = bzip2.NewReader(br)
	case len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar")):
	default:
		return false, nil
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		// A compressed file that is not a tar is copied as it is.
		return false, nil
	}
	if err := mkdirOwned(root, dest, own); err != nil {
		return true, err
	}
	for ; err == nil; hdr, err = tr.Next() {
		if err := extractEntry(root, dest, hdr, tr, own); err != nil {
			return true, fmt.Errorf("extract %s: %s: %w", rel, hdr.Name, err)
		}
	}
	if !errors.Is(err, io.EOF) {
		return true, fmt.Errorf("extract %s: %w", rel, err)
	}
	return true, nil
}

// extractEntry writes one tar entry under dest in the rootfs. Owners come
// from the archive unless --chown says otherwise; paths stay inside the
// rootfs whatever the archive says.
func extractEntry(root, dest string, hdr *tar.Header, r io.Reader, own copyOwner) error {
	name := path.Join(dest, path.Join("/", hdr.Name))
	parent, err := fs.RootPath(root, path.Dir(name))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	target := filepath.Join(parent, path.Base(name))
	uid, gid := hdr.Uid, hdr.Gid
	if own.chown {
		uid, gid = own.uid, own.gid
	}
	mode := iofs.FileMode(hdr.Mode).Perm()
	if own.mode != 0 {
		mode = own.mode
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, iofs.ErrExist) {
			return err
		}
	case tar.TypeReg:
		os.RemoveAll(target)
		if err := writeFile(target, r, mode); err != nil {
			return err
		}
	case tar.TypeSymlink:
		os.RemoveAll(target)
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return err
		}
		return os.Lchown(target, uid, gid)
	case tar.TypeLink:
		old, err := fs.RootPath(root, path.Join(dest, path.Join("/", hdr.Linkname)))
		if err != nil {
			return err
		}
		os.RemoveAll(target)
		return os.Link(old, target)
	default:
		// Devices and pipes are not created by a build.
		return nil
	}
	if err := os.Lchown(target, uid, gid); err != nil {
		return err
	}
	if err := os.Chmod(target, mode); err != nil {
		return err
	}
	mt := hdr.ModTime
	if mt.IsZero() {
		mt = time.Unix(0, 0)
	}
	return os.Chtimes(target, mt, mt)
}

// owner resolves --chown against the image's /etc/passwd and /etc/group
// and parses --chmod (octal).
func owner(root, chown, chmod string) (copyOwner, error) {
	var own copyOwner
	if chmod != "" {
		m, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return own, fmt.Errorf("--chmod=%s: want an octal mode such as 755", chmod)
		}
		own.mode = iofs.FileMode(m).Perm()
		if m&0o4000 != 0 {
			own.mode |= iofs.ModeSetuid
		}
		if m&0o2000 != 0 {
			own.mode |= iofs.ModeSetgid
		}
		if m&0o1000 != 0 {
			own.mode |= iofs.ModeSticky
		}
	}
	if chown == "" {
		return own, nil
	}
	u, g, hasGroup := strings.Cut(chown, ":")
	// As Docker: a user without a group gives the same number as gid.
	uid, err := lookupID(root, "/etc/passwd", u)
	if err != nil {
		return own, fmt.Errorf("--chown=%s: %w", chown, err)
	}
	own.uid, own.gid, own.chown = uid, uid, true
	if hasGroup {
		gid, err := lookupID(root, "/etc/group", g)
		if err != nil {
			return own, fmt.Errorf("--chown=%s: %w", chown, err)
		}
		own.gid = gid
	}
	return own, nil
}

// lookupID turns a user or group name into its id through the image's
// passwd or group file; a number is taken as it is.
func lookupID(root, file, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	p, err := fs.RootPath(root, file)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, fmt.Errorf("name %q needs %s in the image, which it lacks; use numeric ids", name, file)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 && fields[0] == name {
			if id, err := strconv.Atoi(fields[2]); err == nil {
				return id, nil
			}
		}
	}
	return 0, fmt.Errorf("no %q in the image's %s", name, file)
}
