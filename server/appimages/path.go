package appimages

import (
	_ "crypto/sha256" // digest algorithms go-digest validates against
	_ "crypto/sha512"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
)

// routeKind is what a /v2/ path asks for.
type routeKind int

const (
	routeUnknown  routeKind = iota
	routeBase               // /v2/
	routeManifest           // /v2/<name>/manifests/<ref>
	routeBlob               // /v2/<name>/blobs/<digest>
	routeTags               // /v2/<name>/tags/list
)

// route is a split /v2/ path: its kind, the repository name and the
// reference (tag or digest), neither checked yet.
type route struct {
	kind routeKind
	name string
	ref  string
}

// maxNameLen is the longest repository name served (the distribution
// spec's limit with the host, kept simple).
const maxNameLen = 255

var (
	// nameRE is the distribution spec's repository name: path components
	// of lower-case letters and digits, separated inside by '.', '_',
	// '__' or runs of '-'.
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	// tagRE is the distribution spec's tag.
	tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// splitPath splits a request path into a route. It does not validate the
// name or the reference; a path that is no route of this registry has kind
// routeUnknown.
func splitPath(path string) route {
	if path == "/v2" || path == "/v2/" {
		return route{kind: routeBase}
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return route{kind: routeTags, name: name}
	}
	// The last of /manifests/ and /blobs/ is the one: a name may have a
	// component called "blobs" or "manifests".
	m, b := strings.LastIndex(rest, "/manifests/"), strings.LastIndex(rest, "/blobs/")
	r := route{}
	switch {
	case m > b:
		r = route{kind: routeManifest, name: rest[:m], ref: rest[m+len("/manifests/"):]}
	case b > m:
		r = route{kind: routeBlob, name: rest[:b], ref: rest[b+len("/blobs/"):]}
	default:
		return route{}
	}
	if r.ref == "" || strings.Contains(r.ref, "/") {
		return route{} // blobs/uploads/…, a trailing slash, and the like
	}
	return r
}

// checkName reports what is wrong with a repository name, or nil.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty repository name: the path is /v2/<name>/…, such as /v2/apps/shop/manifests/latest")
	case len(name) > maxNameLen:
		return fmt.Errorf("repository name of %d bytes is longer than %d", len(name), maxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("repository name %q is invalid: it is lower-case letters and digits in components separated by '/', with '.', '_' or '-' inside a component, such as apps/shop", name)
	}
	return nil
}

// parseDigest parses a digest from a path, saying what is wrong if it is
// not one.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", fmt.Errorf("digest %q is invalid (%v): it is <algorithm>:<hex>, such as sha256:<64 hex digits>", s, err)
	}
	return d, nil
}

// checkTag reports what is wrong with a tag, or nil.
func checkTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("tag %q is invalid: it is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", tag)
	}
	return nil
}

// repositoryOf returns the repository named by a /v2/ path ("apps/shop"
// for /v2/apps/shop/blobs/sha256:…), or "" for /v2/ itself or a path that
// names none (not a route of this registry, or an invalid name). The
// reference in the path is not checked. (Its tests and fuzzing are those
// of the path parsing ServeHTTP does.)
func repositoryOf(path string) string {
	r := splitPath(path)
	if r.kind == routeUnknown || r.kind == routeBase || checkName(r.name) != nil {
		return ""
	}
	return r.name
}
