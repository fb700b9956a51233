package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const cacheDF = `FROM golang AS build
COPY go.mod go.sum* ./
RUN go mod download
COPY . .
RUN go build -o /app .
FROM alpine
ARG V=1
COPY --from=build /app /app
COPY static/ /static/
CMD ["/app"]
`

func cacheKeys(t *testing.T, df, dir string, args map[string]string) []string {
	t.Helper()
	keys, err := parse(t, df, args).CacheKeys(dir)
	if err != nil {
		t.Fatalf("CacheKeys: %v", err)
	}
	return keys
}

// TestCacheKeys changes one input at a time and checks which step keys
// change: the first affected step and every step after it in its chain.
func TestCacheKeys(t *testing.T) {
	base := map[string]string{
		"go.mod": "module x\n", "main.go": "package main\n", "static/a.css": "a{}",
		"README.md": "hi", "logs/x.log": "1", ".dockerignore": "*.md\nlogs\n",
	}
	// Step indexes: 0 COPY go.mod, 1 RUN download, 2 COPY ., 3 RUN build,
	// 4 ARG, 5 COPY --from, 6 COPY static, 7 CMD.
	tests := []struct {
		name        string
		change      func(t *testing.T, dir string)
		args        map[string]string
		firstChange int // -1: nothing changes
	}{
		{"nothing", func(*testing.T, string) {}, nil, -1},
		{"ignored file content", func(t *testing.T, d string) { writeTree(t, d, map[string]string{"README.md": "changed"}) }, nil, -1},
		{"ignored dir file", func(t *testing.T, d string) { writeTree(t, d, map[string]string{"logs/y.log": "new"}) }, nil, -1},
		{"go.mod content", func(t *testing.T, d string) { writeTree(t, d, map[string]string{"go.mod": "module y\n"}) }, nil, 0},
		{"go.sum appears", func(t *testing.T, d string) { writeTree(t, d, map[string]string{"go.sum": "x"}) }, nil, 0},
		{"main.go content", func(t *testing.T, d string) { writeTree(t, d, map[string]string{"main.go": "package main // x\n"}) }, nil, 2},
		{"main.go mode", func(t *testing.T, d string) {
			if err := os.Chmod(filepath.Join(d, "main.go"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, nil, 2},
		{"new file", func(t *testing.T, d string) { writeTree(t, d, map[string]string{"util.go": "package main\n"}) }, nil, 2},
		{"static content", func(t *testing.T, d string) { writeTree(t, d, map[string]string{"static/a.css": "b{}"}) }, nil, 2}, // COPY . . sees it too
		{"symlink", func(t *testing.T, d string) {
			if err := os.Symlink("a.css", filepath.Join(d, "static/b.css")); err != nil {
				t.Fatal(err)
			}
		}, nil, 2},
		{"build arg", func(*testing.T, string) {}, map[string]string{"V": "2"}, 4},
		{"dockerignore unignores", func(t *testing.T, d string) { writeTree(t, d, map[string]string{".dockerignore": "logs\n"}) }, nil, 2},
	}
	ref := t.TempDir()
	writeTree(t, ref, base)
	want := cacheKeys(t, cacheDF, ref, nil)
	if len(want) != 8 {
		t.Fatalf("got %d keys, want 8", len(want))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, base)
			tt.change(t, dir)
			got := cacheKeys(t, cacheDF, dir, tt.args)
			for i := range want {
				changed := got[i] != want[i]
				wantChanged := tt.firstChange >= 0 && i >= tt.firstChange
				if tt.firstChange >= 0 && tt.firstChange < 4 && i == 4 {
					wantChanged = false // ARG V: the second stage's chain starts FROM alpine
				}
				if tt.firstChange >= 0 && tt.firstChange < 4 && i >= 4 {
					wantChanged = i >= 5 // COPY --from=build picks up the build stage's key
				}
				if changed != wantChanged {
					t.Errorf("step %d: changed = %v, want %v", i, changed, wantChanged)
				}
			}
		})
	}
}

func TestCacheKeysInstructionText(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a": "1"})
	a := cacheKeys(t, "FROM alpine\nRUN echo 1\nCOPY a /a", dir, nil)
	b := cacheKeys(t, "FROM alpine\nRUN echo 2\nCOPY a /a", dir, nil)
	c := cacheKeys(t, "FROM alpine:3\nRUN echo 1\nCOPY a /a", dir, nil)
	d := cacheKeys(t, "FROM alpine\nRUN echo 1\nCOPY --chmod=600 a /a", dir, nil)
	if a[0] == b[0] || a[1] == b[1] {
		t.Errorf("changing RUN text did not change its key and its child's")
	}
	if a[0] == c[0] {
		t.Errorf("changing the base image did not change the keys")
	}
	if a[0] != d[0] || a[1] == d[1] {
		t.Errorf("changing COPY --chmod: want only the COPY key to change")
	}
}

// TestCacheKeysFollowSourceSymlink: a COPY source that is a symlink is
// copied as what it points to, so the target's content is in the key.
func TestCacheKeysFollowSourceSymlink(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"real/a.txt": "1", "other.txt": "x"})
	if err := os.Symlink("real", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, df := range []string{"FROM a\nCOPY link /l/", "FROM a\nCOPY lin? /l/"} {
		before := cacheKeys(t, df, dir, nil)
		writeTree(t, dir, map[string]string{"other.txt": "y"})
		if after := cacheKeys(t, df, dir, nil); after[0] != before[0] {
			t.Errorf("%q: a file outside the link changed the key", df)
		}
		writeTree(t, dir, map[string]string{"real/a.txt": fmt.Sprint(before[0])})
		if after := cacheKeys(t, df, dir, nil); after[0] == before[0] {
			t.Errorf("%q: the link target's content changed but the key did not", df)
		}
	}
}

func TestCacheKeysErrors(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"secret.env": "x", ".dockerignore": "*.env\n"})
	tests := []struct{ df, want string }{
		{"FROM a\nRUN x\nCOPY missing /m", "line 3: COPY: source \"missing\" is not in the build context"},
		{"FROM a\nADD secret.env /s", "line 2: ADD: source \"secret.env\" is excluded by .dockerignore"},
		{"FROM a\nCOPY [a /s", "line 2: COPY: source \"[a\": bad wildcard pattern"},
	}
	for _, tt := range tests {
		_, err := parse(t, tt.df, nil).CacheKeys(dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.df, err, tt.want)
		}
	}
	if _, err := parse(t, "FROM a\nCOPY *.nothing /x/", nil).CacheKeys(dir); err != nil {
		t.Errorf("a wildcard matching nothing is allowed, as in Docker: %v", err)
	}
}

func BenchmarkCacheKeys(b *testing.B) {
	dir := b.TempDir()
	files := map[string]string{}
	for i := range 1000 {
		files[filepath.Join("src", string(rune('a'+i%26)), strings.Repeat("f", 1+i%7)+"_"+string(rune('a'+i/26%26))+".go")] = strings.Repeat("x", 4096)
	}
	for name, c := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(c), 0o644)
	}
	p, err := ParseDockerfile(strings.NewReader("FROM a\nCOPY . /src/\nRUN make"), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.CacheKeys(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCacheKeysSymlinkPartwayOutOfContext: a source whose path goes through
// a symlink leading out of the repository is not in the build context.
func TestCacheKeysSymlinkPartwayOutOfContext(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	p, err := ParseDockerfile(strings.NewReader("FROM x\nCOPY out/secret /s\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.CacheKeys(dir)
	if err == nil || !strings.Contains(err.Error(), "is not in the build context") {
		t.Errorf("CacheKeys: got %v, want \"is not in the build context\"", err)
	}
	// A link inside the context gets an error that says so.
	writeTree(t, dir, map[string]string{"real/b": "b"})
	if err := os.Symlink("real", filepath.Join(dir, "in")); err != nil {
		t.Fatal(err)
	}
	p, err = ParseDockerfile(strings.NewReader("FROM x\nCOPY in/b /b\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = p.CacheKeys(dir); err == nil || !strings.Contains(err.Error(), "goes through a symlink") {
		t.Errorf("CacheKeys through a link inside: got %v, want \"goes through a symlink\"", err)
	}
}

// TestCacheKeysWithDigest: the resolved digest and the platform change the
// keys of every step; an unneeded stage's image is not resolved.
func TestCacheKeysWithDigest(t *testing.T) {
	p, err := ParseDockerfile(strings.NewReader("FROM gone AS unused\nRUN x\nFROM base\nRUN a\nCOPY --from=img /f /f\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(digests map[string]string, platform string) []string {
		t.Helper()
		k, err := p.CacheKeysWith(t.TempDir(), KeyOptions{Platform: platform, ImageDigest: func(ref, _ string) (string, error) {
			d, ok := digests[ref]
			if !ok {
				return "", fmt.Errorf("image %s not resolved", ref)
			}
			return d, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := keys(map[string]string{"base": "sha256:1", "img": "sha256:9"}, "linux/amd64")
	b := keys(map[string]string{"base": "sha256:2", "img": "sha256:9"}, "linux/amd64")
	c := keys(map[string]string{"base": "sha256:1", "img": "sha256:9"}, "linux/arm64")
	d := keys(map[string]string{"base": "sha256:1", "img": "sha256:8"}, "linux/amd64")
	for i := 1; i < 3; i++ {
		if a[i] == b[i] || a[i] == c[i] {
			t.Errorf("step %d: the key does not change with the base digest or platform", i)
		}
	}
	if a[1] != d[1] || a[2] == d[2] {
		t.Errorf("COPY --from image digest: got keys %v and %v, want only the COPY's to differ", a, d)
	}
}
