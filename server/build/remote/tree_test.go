package remote

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// entry is one file of a test tree.
type entry struct {
	name, content, link string
	mode                fs.FileMode // fs.ModeDir for a directory
}

// makeTree writes entries under a new temp dir.
func makeTree(t testing.TB, entries []entry) string {
	t.Helper()
	dir := t.TempDir()
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case e.link != "":
			err = os.Symlink(e.link, p)
		case e.mode.IsDir():
			err = os.Mkdir(p, e.mode.Perm())
		default:
			err = os.WriteFile(p, []byte(e.content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.link == "" && e.mode != 0 {
			if err := os.Chmod(p, e.mode&^fs.ModeDir); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// snapshot describes the tree under dir: name → type, mode, content or
// target, and mtime for files.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			got[rel] = "link " + l
		case info.IsDir():
			got[rel] = "dir " + info.Mode().String()
		default:
			b, _ := os.ReadFile(p)
			got[rel] = "file " + info.Mode().String() + " " + string(b) + " " + info.ModTime().UTC().Format(time.RFC3339)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

var bigLimits = limits{maxBytes: 1 << 30, maxFiles: 1000}

func TestTreeRoundTrip(t *testing.T) {
	src := makeTree(t, []entry{
		{name: "Dockerfile", content: "FROM x\n"},
		{name: "bin/run.sh", content: "#!/bin/sh\necho hi\n", mode: 0o755},
		{name: "bin/suid", content: "s", mode: 0o4755 | fs.ModeSetuid},
		{name: "empty", content: ""},
		{name: "deep/a/b/c.txt", content: "c"},
		{name: "ro", mode: fs.ModeDir | 0o555},
		{name: "link-in", link: "bin/run.sh"},
		{name: "link-out", link: "/etc/passwd"},
		{name: "dangling", link: "../nowhere"},
	})
	// Whole-second mtimes: tar keeps seconds.
	mt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "bin/run.sh"), mt, mt); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tarTree(&buf, src); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	got, err := unpackTree(&buf, dst, bigLimits)
	if err != nil {
		t.Fatal(err)
	}
	want, have := snapshot(t, src), snapshot(t, dst)
	for name, w := range want {
		if have[name] != w {
			t.Errorf("%s: got %q, want %q", name, have[name], w)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unpacked but not in the source", name)
		}
	}
	if got.files != len(want) {
		t.Errorf("files: got %d, want %d", got.files, len(want))
	}
}

// tarOf is a tar of hdrs, each regular file with content "x…" of its size.
func tarOf(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func reg(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Size: size}
}

func TestUnpackRefuses(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name string
		tar  []byte
		lim  limits
		want string // in the error
	}{
		{"dotdot", tarOf(t, reg("../evil", 1)), bigLimits, `".." would leave the source tree`},
		{"dotdot inside", tarOf(t, reg("a/../../evil", 1)), bigLimits, `would leave the source tree`},
		{"absolute", tarOf(t, reg(filepath.Join(outside, "evil"), 1)), bigLimits, "an absolute path"},
		{"through symlink", tarOf(t,
			&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: outside},
			reg("link/evil", 1)), bigLimits, "link is a symlink: an entry may not be written through a symlink"},
		{"through relative symlink", tarOf(t,
			&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../.."},
			reg("up/evil", 1)), bigLimits, "up is a symlink"},
		{"file over dir", tarOf(t, &tar.Header{Name: "d/", Typeflag: tar.TypeDir}, reg("d", 1)), bigLimits, "a directory of that name"},
		{"under a file", tarOf(t, reg("f", 1), reg("f/g", 1)), bigLimits, "f is a file, not a directory"},
		{"hard link", tarOf(t, reg("a", 1), &tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "a"}), bigLimits, "is not accepted"},
		{"device", tarOf(t, &tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}), bigLimits, "is not accepted"},
		{"fifo", tarOf(t, &tar.Header{Name: "p", Typeflag: tar.TypeFifo}), bigLimits, "is not accepted"},
		{"too many files", tarOf(t, reg("a", 1), reg("b", 1), reg("c", 1)), limits{maxBytes: 100, maxFiles: 2}, "more than 2 files and directories"},
		{"too large", tarOf(t, reg("a", 60), reg("b", 60)), limits{maxBytes: 100, maxFiles: 10}, "larger than 100 bytes (at b)"},
		{"truncated", tarOf(t, reg("a", 5000))[:2048], bigLimits, "unexpected EOF"},
		{"not a tar", []byte(strings.Repeat("this is not a tar\n", 100)), bigLimits, "read the source tree's tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "tree")
			if err := os.Mkdir(dst, 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := unpackTree(bytes.NewReader(tt.tar), dst, tt.lim)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
			for _, p := range []string{filepath.Join(outside, "evil"), filepath.Join(filepath.Dir(dst), "evil")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written outside the tree", p)
				}
			}
		})
	}
}

func TestEntryName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a", "a"}, {"a/", "a"}, {"./a/b", "a/b"}, {".", "."}, {"./", "."}, {"a//b", "a/b"}, {"a/./b", "a/b"},
		{"..", ""}, {"../a", ""}, {"a/..", ""}, {"/a", ""}, {"", ""}, {"a\x00b", ""},
	}
	for _, tt := range tests {
		got, err := entryName(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("entryName(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("entryName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzUnpack checks that no tar, however made, writes outside its tree or
// makes unpackTree fail other than by an error.
func FuzzUnpack(f *testing.F) {
	f.Add(tarOf(f, reg("a", 3), &tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: ".."}, reg("l/x", 1)))
	f.Add(tarOf(f, &tar.Header{Name: "d/", Typeflag: tar.TypeDir}, reg("d/../../x", 1)))
	f.Add(tarOf(f, reg("/x", 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		parent := t.TempDir()
		dst := filepath.Join(parent, "tree")
		if err := os.Mkdir(dst, 0o700); err != nil {
			t.Fatal(err)
		}
		unpackTree(bytes.NewReader(b), dst, limits{maxBytes: 1 << 20, maxFiles: 100})
		ents, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 {
			t.Fatalf("unpackTree wrote beside its tree: %v", ents)
		}
	})
}
