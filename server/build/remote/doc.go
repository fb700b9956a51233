// Package remote runs a build on another node's agent: the API server
// sends the source tree and the build's parameters, the builder node (one
// labelled as a builder, e.g. an arm64 Pi building natively) runs it with
// server/build's executor on its own containerd, streams the build log back
// as it is written, and answers with what it made.
//
//	API server                                   builder node's agent
//	Build(ctx, hc, url, dir, req, out)           NewHandler(cfg) at POST /build
//	  ── POST, header Skiff-Build: JSON Request,
//	     body: tar of dir (streamed) ──────────►  one build at a time (else 503)
//	                                              unpack into cfg.Dir/build-* (bounded,
//	                                              no "..", absolute paths or symlink escapes)
//	  ◄── 200, text/plain build log, flushed ───  build.Builder.Build(ctx, …)
//	  ◄── trailer Skiff-Build-Result ───────────  {"result":{…}} or {"error":"…","reason":"…"}
//
// Errors found before the build starts (not POST, a bad Skiff-Build header,
// a busy node, a tree that breaks the bounds or tries to leave its
// directory) are plain HTTP errors with a one-line message; Build turns
// every outcome into an error that keeps the builder's message and an
// errdefs class (ErrInvalid for a build that failed, ErrUnavailable for a
// busy or unreachable node).
//
// The package owns the wire protocol and the unpacking of the tree; it
// does not choose the builder node, authenticate it (the agent's TLS
// listener only answers the API server's client certificate), or move the
// image it made (the agent serves it at /v2/).
package remote
