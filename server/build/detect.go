package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Kind is the kind of app Detect finds in a source tree with no Dockerfile.
type Kind string

// The kinds of app skiff builds without a Dockerfile.
const (
	KindGo       Kind = "go"
	KindPython   Kind = "python"
	KindNode     Kind = "node"
	KindStatic   Kind = "static"
	KindProcfile Kind = "procfile"
)

// ErrUndetected is returned by Detect when the tree matches no kind.
var ErrUndetected = errors.New("cannot tell how to build this app: add a Dockerfile, or one of go.mod, requirements.txt, pyproject.toml, Pipfile, package.json, index.html (at the root or in public/), or a Procfile with a web process")

// detectOrder is the precedence of the kinds, first match wins:
//
//   - Go first: go.mod is an unambiguous server-side signal, and Go
//     repositories often carry a package.json for front-end tooling.
//   - Python before Node: Django and Flask apps often have a package.json
//     for their assets. But a package.json with a start script, or a
//     Python manifest with no .py file at the root (a requirements.txt for
//     build tooling), makes it a Node app (see nodeOverPython).
//   - Node before static: a Node app's public/index.html is an asset, not
//     the whole app.
//   - Static before Procfile-only: an index.html with a Procfile is still
//     served as a site; the Procfile's web overrides the httpd command.
//   - Procfile-only last: a Procfile whose web process is a shell command
//     run in a plain base image.
var detectOrder = []struct {
	kind  Kind
	files []string
}{
	{KindGo, []string{"go.mod"}},
	{KindPython, []string{"requirements.txt", "pyproject.toml", "Pipfile"}},
	{KindNode, []string{"package.json"}},
	{KindStatic, []string{"index.html", "public/index.html"}},
	{KindProcfile, []string{"Procfile"}},
}

// Detect returns the kind of app in contextDir, by the files at its root
// (see detectOrder for the precedence), or ErrUndetected. A Procfile-only
// app must have a web process.
func Detect(contextDir string) (Kind, error) {
	info, err := os.Stat(contextDir)
	if err != nil {
		return "", fmt.Errorf("detect app kind: %w", err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("detect app kind: %s is not a directory", contextDir)
	}
	for _, d := range detectOrder {
		for _, f := range d.files {
			ok, err := isFileIn(contextDir, f)
			if err != nil {
				return "", fmt.Errorf("detect app kind: %w", err)
			}
			if !ok {
				continue
			}
			if d.kind == KindPython {
				node, err := nodeOverPython(contextDir)
				if err != nil {
					return "", err
				}
				if node {
					return KindNode, nil
				}
			}
			if d.kind == KindProcfile {
				procs, err := readProcfile(contextDir)
				if err != nil {
					return "", err
				}
				if _, err := RequireWeb(procs); err != nil {
					return "", err
				}
			}
			return d.kind, nil
		}
	}
	return "", ErrUndetected
}

// nodeOverPython reports whether a tree with a Python manifest is a Node
// app after all: it has a package.json, and that has a start script or
// there is no .py file at the root.
func nodeOverPython(contextDir string) (bool, error) {
	f, err := openInContext(contextDir, "package.json")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("detect app kind: %w", err)
	}
	defer f.Close()
	var pkg struct {
		Scripts map[string]any `json:"scripts"`
	}
	// A package.json that does not parse says nothing about start.
	if json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&pkg) == nil {
		if s, ok := pkg.Scripts["start"].(string); ok && strings.TrimSpace(s) != "" {
			return true, nil
		}
	}
	py, err := filepath.Glob(filepath.Join(contextDir, "*.py"))
	if err != nil {
		return false, fmt.Errorf("detect app kind: %w", err)
	}
	return len(py) == 0, nil
}

// isFileIn reports whether rel is a regular file in the build context
// dir, following symlinks only inside it: a go.mod linking out of the
// repository does not make it a Go app.
func isFileIn(dir, rel string) (bool, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return false, err
	}
	defer root.Close()
	info, err := root.Stat(filepath.FromSlash(rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		// Out of the context (a symlink leading out) counts as absent.
		return false, nil
	}
	return info.Mode().IsRegular(), nil
}

// readProcfile parses contextDir/Procfile; a missing Procfile is nil, nil.
func readProcfile(contextDir string) (map[string]string, error) {
	f, err := openInContext(contextDir, "Procfile")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read Procfile: %w", err)
	}
	defer f.Close()
	return ParseProcfile(f)
}

// openInContext opens rel inside the build context dir, following
// symlinks only within it: a pushed repository's symlink to a file of the
// build machine (a Procfile -> /proc/self/environ) is refused.
func openInContext(dir, rel string) (*os.File, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(rel))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (a symlink out of the repository is not followed)", rel, err)
	}
	return f, err
}
