// Command build writes skiff's offline test images (package
// scripts/testimages) to a directory, default bin/test-images, and prints
// one line per image: reference, manifest digest, tarball path.
//
//	go run ./scripts/testimages/build [OUTDIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/skiffhq/skiff/scripts/testimages"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [OUTDIR]  (default bin/test-images)\n", filepath.Base(os.Args[0]))
	}
	flag.Parse()
	if err := run(flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "build test images:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	dir := "bin/test-images"
	switch len(args) {
	case 0:
	case 1:
		dir = args[0]
	default:
		return fmt.Errorf("want at most one OUTDIR, got %q", args)
	}
	paths, err := testimages.Build(dir)
	if err != nil {
		return err
	}
	digests := map[string]string{}
	for _, img := range testimages.Images() {
		d, err := testimages.ManifestDigest(img)
		if err != nil {
			return err
		}
		digests[testimages.Ref(img.Name)] = d.String()
	}
	refs := make([]string, 0, len(paths))
	for ref := range paths {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		fmt.Printf("%s\t%s\t%s\n", ref, digests[ref], paths[ref])
	}
	return nil
}
