package testimages

import (
	"runtime"
	"runtime/debug"
)

// Platform is the architecture and variant of the program running it, as
// an image config spells them: GOARCH, and for arm "v" and GOARM (v7 when
// the build does not say).
func Platform() (arch, variant string) {
	arch = runtime.GOARCH
	if arch != "arm" {
		return arch, ""
	}
	variant = "v7"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" && s.Value != "" {
				variant = "v" + s.Value[:1] // "7" or "7,softfloat"
			}
		}
	}
	return arch, variant
}
