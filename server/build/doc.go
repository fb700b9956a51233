// Package build turns an app's source into an image: it parses a
// Dockerfile into stages of ordered steps with their cache keys and the final
// image configuration, detects the kind of app when there is no Dockerfile,
// reads Procfiles, and writes the Dockerfile recipe for each detected kind;
// its executor, [Builder], runs a [Plan] step by step on containerd
// snapshots and writes the OCI image into containerd.
//
// The planning half needs no container runtime. The executor uses the
// containerd client directly (never skiff's runtime package); it does not
// pull by itself (Builder.Pull does, when set) or run the image.
//
//	source dir ──► Dockerfile? ──yes──► ParseDockerfileWith ──► Plan ──► Builder.Build ──► image
//	                   │no                     ▲
//	                   ▼                       │
//	               Detect ──► Kind ──► Recipes.Dockerfile (text)
//
// Variables are expanded at parse time from the Dockerfile's ARG and ENV
// instructions and the build arguments; the base image's own ENV is not
// known here, so $VAR in COPY, WORKDIR, USER, LABEL, EXPOSE and the like
// sees only what the Dockerfile defines (RUN commands are expanded by the
// shell at run time and see everything). Likewise a relative WORKDIR or
// COPY destination before any absolute WORKDIR stays relative, to be
// resolved by the executor against the base image's WorkingDir.
package build
