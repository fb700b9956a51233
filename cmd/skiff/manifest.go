package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/server/api"
)

// document is one object read from a manifest.
type document struct {
	source string // file name, or "-" for stdin
	index  string // 1-based document number; "2.3" for item 3 of a List in document 2
	obj    api.Object
}

func (d document) String() string {
	m := d.obj.GetObjectMeta()
	return fmt.Sprintf("%s: document %s (%s %q)", d.source, d.index, d.obj.GetTypeMeta().Kind, m.Name)
}

// manifestError is every problem found reading manifests, one per line.
type manifestError []string

func (e manifestError) Error() string {
	return "the manifests have errors; nothing was applied:\n  " + strings.Join(e, "\n  ")
}

// readManifests reads every document of every path: a file, a directory
// (its *.yaml, *.yml and *.json, sorted; subdirectories with recursive) or
// "-" for stdin. Problems are collected across all documents and returned
// as a manifestError together with the documents that did decode.
func readManifests(paths []string, recursive bool, stdin io.Reader) ([]document, error) {
	var docs []document
	var problems manifestError
	for _, p := range paths {
		files, err := manifestFiles(p, recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			var data []byte
			if f == "-" {
				data, err = io.ReadAll(stdin)
			} else {
				data, err = os.ReadFile(f)
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", f, err)
			}
			d, errs := parseManifest(f, data)
			docs = append(docs, d...)
			problems = append(problems, errs...)
		}
	}
	if len(problems) > 0 {
		return docs, problems
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no objects found in %s", strings.Join(paths, ", "))
	}
	return docs, nil
}

func manifestFiles(p string, recursive bool) ([]string, error) {
	if p == "-" {
		return []string{"-"}, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != p && !recursive {
			return filepath.SkipDir
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	sort.Strings(files)
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("directory %s has no .yaml, .yml or .json files", p)
	}
	return files, err
}

// splitDocuments splits a YAML stream at lines that are `---` (optionally
// followed by a comment).
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimRight(line, " \t\r")
		if t == "---" || strings.HasPrefix(t, "--- #") || strings.HasPrefix(t, "---\t#") {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

// isBlank reports whether a YAML document has nothing but comments,
// whitespace and document markers.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "..." {
			return false
		}
	}
	return true
}

// parseManifest decodes the documents of one file.
func parseManifest(source string, data []byte) ([]document, []string) {
	var docs []document
	var problems []string
	n := 0
	for _, raw := range splitDocuments(data) {
		if isBlank(raw) {
			continue
		}
		n++
		where := fmt.Sprintf("%s: document %d", source, n)
		js, err := yaml.YAMLToJSONStrict(raw) // a duplicate key is an error, not a silent "last wins"
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: not YAML or JSON: %v", where, err))
			continue
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		var head struct {
			Kind  string            `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		json.Unmarshal(js, &head)
		if head.Kind == "List" || strings.HasSuffix(head.Kind, "List") && head.Items != nil {
			for i, item := range head.Items {
				d, err := decodeDocument(source, fmt.Sprintf("%d.%d", n, i+1), item)
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				docs = append(docs, d)
			}
			continue
		}
		d, err := decodeDocument(source, fmt.Sprint(n), js)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		docs = append(docs, d)
	}
	return docs, problems
}

// decodeDocument strictly decodes one object, naming it in any error.
// With only unknown fields wrong, the object's validation problems are
// reported too, so one run shows everything to fix.
func decodeDocument(source, index string, js []byte) (document, error) {
	obj, err := api.Decode(js)
	if err == nil {
		return document{source: source, index: index, obj: obj}, nil
	}
	var fes api.FieldErrors
	if obj != nil && errors.As(err, &fes) {
		check := api.Clone(obj)
		if check.GetObjectMeta().Namespace == "" {
			check.GetObjectMeta().Namespace = "default"
		}
		api.Default(check)
		err = append(fes, api.Validate(check)...)
	}
	var head struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	json.Unmarshal(js, &head)
	where := fmt.Sprintf("%s: document %s", source, index)
	if head.Kind != "" {
		where += fmt.Sprintf(" (%s %q)", head.Kind, head.Metadata.Name)
	}
	return document{}, describeError(where, err)
}

// describeError renders err about the object at where, one line per field.
func describeError(where string, err error) error {
	var fes api.FieldErrors
	if errors.As(err, &fes) && len(fes) > 0 {
		lines := make([]string, len(fes))
		for i, fe := range fes {
			lines[i] = where + ": " + fe.Error()
		}
		return errors.New(strings.Join(lines, "\n  "))
	}
	return fmt.Errorf("%s: %w", where, err)
}
