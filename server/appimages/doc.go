// Package appimages serves the images skiff builds for apps to the nodes
// that run them: the read (pull) side of the OCI distribution API, as a
// plain http.Handler over the server node's containerd.
//
// An app's build is stored in containerd's image store (namespace "skiff")
// as skiff.local/apps/<app>:<build> and skiff.local/apps/<app>@<digest>.
// Handler answers
//
//	GET/HEAD /v2/                               200 {}
//	GET/HEAD /v2/<name>/manifests/<tag|digest>  an image's manifest or index
//	GET/HEAD /v2/<name>/blobs/<digest>          config, layer or child manifest (Range too)
//	GET/HEAD /v2/<name>/tags/list               the tags of <name>
//
// where repository <name> is the images named <Host>/<name>:… and
// <Host>/<name>@…. A digest is served through <name> only when it is
// reachable from one of <name>'s images (walked with containerd's
// images.Children), so a node allowed to pull one app cannot read another
// app's layers by guessing their digests. What is reachable from an image
// target never changes (content is addressed by digest), so the walk is
// cached per target digest; the images of a repository are listed on every
// request, so a new or removed image is seen at once.
//
// The registry is read-only: images are made by git push, and every other
// method is answered 405 UNSUPPORTED. Who may read which repository is not
// decided here: Config.Authorize is asked, and the API server wires it to
// its authentication. The node side (containerd's resolver pointed at the
// API server) is not in this package either.
package appimages
