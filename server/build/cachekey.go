package build

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// CacheKeys returns one cache key per step, indexed by Step.Index. A key is
// the SHA-256 of the parent step's key (the stage's base for a first step),
// the step's canonical text (its resolved arguments, environment, working
// directory and user), and, for COPY and ADD from the build context, the
// path, mode and content of every source file contextDir's .dockerignore
// lets through; COPY --from a stage mixes in that stage's last key. An image
// base is keyed by its reference as written, since a tag moves: a builder,
// which resolves references, uses [Plan.CacheKeysWith] to key it by digest.
func (p *Plan) CacheKeys(contextDir string) ([]string, error) {
	return p.CacheKeysWith(contextDir, KeyOptions{})
}

// KeyOptions are what [Plan.CacheKeysWith] mixes into the keys beyond the
// Dockerfile and the build context.
type KeyOptions struct {
	// ImageDigest, when set, returns the digest an image reference (a FROM
	// base or a COPY --from image) resolves to for the platform (the
	// stage's --platform, or "" for the build's). It is called only for the
	// stages the last one needs (Stage.Needed); the keys of the others are
	// keyed by reference. An error stops CacheKeysWith.
	ImageDigest func(ref, platform string) (string, error)
	// Platform is the build's platform, such as "linux/arm64/v8": the same
	// Dockerfile gives other layers on another architecture.
	Platform string
}

// CacheKeysWith is CacheKeys with the resolved image digests and the build
// platform mixed into the key of every step, so that a moved tag or another
// architecture misses the cache.
func (p *Plan) CacheKeysWith(contextDir string, opts KeyOptions) ([]string, error) {
	cx, err := openContext(contextDir)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(p.Steps()))
	stageEnd := make([]string, len(p.Stages))
	for i, st := range p.Stages {
		digestOf := func(line int, what, ref string) (string, error) {
			if opts.ImageDigest == nil || !st.Needed || strings.EqualFold(ref, "scratch") {
				return "", nil
			}
			d, err := opts.ImageDigest(ref, st.Platform)
			if err != nil {
				return "", fmt.Errorf("line %d: %s%s: %w", line, what, ref, err)
			}
			return d, nil
		}
		d := ""
		if st.BaseStage < 0 {
			var err error
			if d, err = digestOf(st.Line, "FROM ", st.From); err != nil {
				return nil, err
			}
		}
		if err != nil {
			return nil, err
		}
		parent := hashStrings("FROM", st.From, st.Platform)
		if d != "" || opts.Platform != "" {
			parent = hashStrings(parent, d, opts.Platform)
		}
		if st.BaseStage >= 0 {
			parent = stageEnd[st.BaseStage]
		}
		for _, step := range st.Steps {
			extra := ""
			switch {
			case step.Kind != StepCopy && step.Kind != StepAdd:
			case step.FromStage >= 0:
				extra = "stage:" + stageEnd[step.FromStage]
			case step.FromImage != "":
				d, err := digestOf(step.Line, string(step.Kind)+" --from=", step.FromImage)
				if err != nil {
					return nil, err
				}
				if d != "" {
					extra = "image:" + d
				}
			default:
				h, err := cx.hashSources(step.Args)
				if err != nil {
					return nil, fmt.Errorf("line %d: %s: %w", step.Line, step.Kind, err)
				}
				extra = "context:" + h
			}
			parent = hashStrings(parent, step.Canonical(), extra)
			keys = append(keys, parent)
		}
		stageEnd[i] = parent
	}
	return keys, nil
}

func hashStrings(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// contextEntry is one path of the build context that .dockerignore lets
// through.
type contextEntry struct {
	rel    string // slash-separated, relative to the context root
	mode   fs.FileMode
	target string // symlink target
}

type buildContext struct {
	dir     string
	ignore  *Ignore
	entries []contextEntry // sorted by rel
	walked  bool
	hashes  map[string]string // rel → content hash, memoized
	buf     []byte            // copy buffer shared by fileHash
}

func openContext(dir string) (*buildContext, error) {
	cx := &buildContext{dir: dir, hashes: map[string]string{}}
	f, err := openInContext(dir, ".dockerignore")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("build context: %w", err)
	default:
		defer f.Close()
		if cx.ignore, err = ParseIgnore(f); err != nil {
			return nil, err
		}
	}
	return cx, nil
}

// walk lists the context once, on first use.
func (cx *buildContext) walk() error {
	if cx.walked {
		return nil
	}
	cx.walked = true
	prune := !cx.ignore.hasExclusions()
	return filepath.WalkDir(cx.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		rel, err := filepath.Rel(cx.dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if cx.ignore.Excluded(rel) {
			if d.IsDir() && prune {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		e := contextEntry{rel: rel, mode: info.Mode()}
		if info.Mode()&fs.ModeSymlink != 0 {
			if e.target, err = os.Readlink(p); err != nil {
				return fmt.Errorf("build context: %w", err)
			}
		}
		cx.entries = append(cx.entries, e)
		return nil
	})
}

// sourceRel turns a COPY source into a path relative to the context root:
// the context is its own root, so "/a" and "../a" both mean "a".
func sourceRel(src string) string {
	return strings.TrimPrefix(path.Join("/", src), "/")
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[") }

// hashSources hashes the entries the sources select, in path order.
func (cx *buildContext) hashSources(sources []string) (string, error) {
	if err := cx.walk(); err != nil {
		return "", err
	}
	byRel := map[string]contextEntry{}
	for _, e := range cx.entries {
		byRel[e.rel] = e
	}
	selected := map[string]bool{}
	for _, src := range sources {
		rel := sourceRel(src)
		wildcard := hasWildcard(rel)
		if wildcard {
			if _, err := path.Match(rel, ""); err != nil {
				return "", fmt.Errorf("source %q: bad wildcard pattern", src)
			}
		}
		var tops []string
		n := 0
		for _, e := range cx.entries {
			if under(e.rel, rel, wildcard) {
				selected[e.rel] = true
				n++
				if e.mode&fs.ModeSymlink != 0 && (e.rel == rel || wildcard && matchesSelf(e.rel, rel)) {
					tops = append(tops, e.rel)
				}
			}
		}
		if n == 0 && !wildcard && rel != "" {
			if cx.existsInside(rel) {
				if cx.ignore.Excluded(rel) {
					return "", fmt.Errorf("source %q is excluded by .dockerignore; remove its pattern there or drop it from the instruction", src)
				}
				return "", fmt.Errorf("source %q goes through a symlink in the build context; name the path the link points to", src)
			}
			return "", fmt.Errorf("source %q is not in the build context", src)
		}
		// A source that is itself a symlink is followed, as Docker does: what
		// it points to in the context is part of the key.
		for _, top := range tops {
			cx.followLink(top, byRel, selected, 0)
		}
	}
	var rels []string
	for r := range selected {
		rels = append(rels, r)
	}
	sort.Strings(rels)
	h := sha256.New()
	for _, r := range rels {
		e := byRel[r]
		content := ""
		switch {
		case e.mode&fs.ModeSymlink != 0:
			content = "->" + e.target
		case e.mode.IsRegular():
			c, err := cx.fileHash(r)
			if err != nil {
				return "", err
			}
			content = c
		}
		fmt.Fprintf(h, "%q %o %s\n", r, uint32(e.mode), content)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// followLink selects what the symlink at rel points to, clamped to the
// context, following up to 8 links in a row.
func (cx *buildContext) followLink(rel string, byRel map[string]contextEntry, selected map[string]bool, depth int) {
	e, ok := byRel[rel]
	if !ok || e.mode&fs.ModeSymlink == 0 || depth >= 8 {
		return
	}
	target := e.target
	if !path.IsAbs(target) {
		target = path.Join(path.Dir(rel), target)
	}
	target = sourceRel(target)
	for _, e := range cx.entries {
		if under(e.rel, target, false) {
			selected[e.rel] = true
		}
	}
	cx.followLink(target, byRel, selected, depth+1)
}

func matchesSelf(rel, pattern string) bool {
	ok, _ := path.Match(pattern, rel)
	return ok
}

// under reports whether entry rel is the source or inside it; a wildcard
// source matches per path element as path.Match does, and a directory it
// matches brings everything inside.
func under(rel, src string, wildcard bool) bool {
	if src == "" {
		return true
	}
	if !wildcard {
		return rel == src || strings.HasPrefix(rel, src+"/")
	}
	for p := rel; p != "."; p = path.Dir(p) {
		if ok, _ := path.Match(src, p); ok {
			return true
		}
	}
	return false
}

func (cx *buildContext) fileHash(rel string) (string, error) {
	if h, ok := cx.hashes[rel]; ok {
		return h, nil
	}
	f, err := openInContext(cx.dir, rel)
	if err != nil {
		return "", fmt.Errorf("build context: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if cx.buf == nil {
		cx.buf = make([]byte, 64<<10)
	}
	// The wrapper hides File.WriteTo, which would allocate a buffer per file.
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, cx.buf); err != nil {
		return "", fmt.Errorf("build context: read %s: %w", rel, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	cx.hashes[rel] = sum
	return sum, nil
}

// existsInside reports whether rel names something in the context, resolving
// symlinks along it only inside the context: a link partway along the path
// that leads out of the repository does not count.
func (cx *buildContext) existsInside(rel string) bool {
	root, err := os.OpenRoot(cx.dir)
	if err != nil {
		return false
	}
	defer root.Close()
	_, err = root.Lstat(filepath.FromSlash(rel))
	return err == nil
}
