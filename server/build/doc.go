// Package build turns an app's source into a build plan: it parses a
// Dockerfile into stages of ordered steps with their cache keys and the final
// image configuration, detects the kind of app when there is no Dockerfile,
// reads Procfiles, and writes the Dockerfile recipe for each detected kind.
//
// It owns everything about a build that needs no container runtime. It does
// not pull images, run steps, or write snapshots: the executor does, step by
// step, from a [Plan].
//
//	source dir ──► Dockerfile? ──yes──► ParseDockerfile ──► Plan ──► executor
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
