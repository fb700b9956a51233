package remote

import (
	"fmt"
	"path/filepath"

	"github.com/skiffhq/skiff/server/build"
)

const (
	// headerRequest carries the JSON Request.
	headerRequest = "Skiff-Build"
	// trailerResult carries the JSON outcome after the build log.
	trailerResult = "Skiff-Build-Result"
	// maxErrorLen bounds an error message sent in the trailer.
	maxErrorLen = 8 << 10
)

// The reasons of an outcome's error, each mapped to an errdefs class by
// Build.
const (
	reasonInvalid     = "invalid"     // the build failed: the app's fault (Dockerfile, RUN, timeout, memory)
	reasonUnavailable = "unavailable" // the builder node could not build now (its containerd)
)

// Request is one build, as the server asks it (JSON in the request header
// Skiff-Build, the source tree as the body: an uncompressed tar).
type Request struct {
	// Dockerfile is the Dockerfile's path in the tree; "" = Dockerfile
	// if it exists, else the app's kind is detected and Recipes write one.
	Dockerfile string `json:"dockerfile,omitempty"`
	// BuildArgs are the build arguments (docker build --build-arg).
	BuildArgs map[string]string `json:"buildArgs,omitempty"`
	// Image is the name to give the image, e.g.
	// skiff.local/apps/shop:shop-b3.
	Image string `json:"image"`
	// Recipes write the Dockerfile of an app that has none.
	Recipes build.Recipes `json:"recipes"`
	// TimeoutSeconds bounds the whole build; 0 = none.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
	// MemoryBytes is the memory limit of each RUN step; 0 = none.
	MemoryBytes int64 `json:"memoryBytes,omitempty"`
	// PrivateImages is build.Request.PrivateImages: the prefix under
	// which only Image's own repository may be a base.
	PrivateImages string `json:"privateImages,omitempty"`
	// ImageLabels is build.Request.ImageLabels.
	ImageLabels map[string]string `json:"imageLabels,omitempty"`
}

// validate checks what the builder node cannot trust the server for.
func (r Request) validate() error {
	switch {
	case r.Image == "":
		return fmt.Errorf("%s header: image is empty; name the image to build, e.g. skiff.local/apps/shop:shop-b3", headerRequest)
	case r.Dockerfile != "" && !filepath.IsLocal(r.Dockerfile):
		return fmt.Errorf("%s header: dockerfile %q is not a path inside the source tree; give a relative path such as docker/Dockerfile", headerRequest, r.Dockerfile)
	case r.TimeoutSeconds < 0:
		return fmt.Errorf("%s header: timeoutSeconds %d is negative; give 0 for no timeout", headerRequest, r.TimeoutSeconds)
	case r.MemoryBytes < 0:
		return fmt.Errorf("%s header: memoryBytes %d is negative; give 0 for no limit", headerRequest, r.MemoryBytes)
	}
	return nil
}

// Result is what the builder node made (build.Result's fields that cross
// the wire).
type Result struct {
	// Image is the image by digest, repo@sha256:… (build.Result.Image):
	// a containerd image name on the builder node.
	Image string `json:"image"`
	// Digest is the image manifest's digest.
	Digest string `json:"digest"`
	// Kind is "dockerfile", or the kind detected when there was none.
	Kind string `json:"kind"`
	// Processes are the Procfile's process types, {"web": ""} without one.
	Processes map[string]string `json:"processes"`
	// Port is the one TCP port the image EXPOSEs, or 0.
	Port int `json:"port"`
	// Steps is how many steps the build ran or reused, CachedSteps how
	// many of them came from the cache.
	Steps       int `json:"steps"`
	CachedSteps int `json:"cachedSteps"`
	// Arch is the builder's runtime.GOARCH: the image runs on nodes of
	// that architecture.
	Arch string `json:"arch"`
}

// outcome is the trailer's JSON: a result, or an error and its reason.
type outcome struct {
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
	Reason string  `json:"reason,omitempty"`
}
