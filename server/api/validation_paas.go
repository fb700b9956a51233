package api

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// This file holds the rules of the app kinds (paas.go): App, Build and
// Release. An App's name is a DNS label (Validate's name switch) because
// it is a host name label (APP.<apps domain>) and the name of the app's
// git repository. Releases and Builds never change once made
// (ValidateUpdate); only their status moves.

// The bounds of the App fields.
const (
	// MaxAppScale bounds the pods of one process type.
	MaxAppScale = 1000
	// MaxHealthCheckDeadlineSeconds bounds a release's rollout: an hour.
	MaxHealthCheckDeadlineSeconds = 3600
	// MaxIdleMinutes bounds the idle time of an app scaled to zero: a week.
	MaxIdleMinutes = 7 * 24 * 60
	// maxProcessType bounds a process type's name: it is the value of the
	// LabelProcess label.
	maxProcessType = 63
)

// processTypeRE is what server/build's ParseProcfile accepts as a process
// type name (Heroku's rule). Kept in step by hand: server/api imports only
// the standard library.
var processTypeRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// processTypeProblems checks a process type name ("web", "worker").
func processTypeProblems(s string) []string {
	var probs []string
	if len(s) > maxProcessType {
		probs = append(probs, fmt.Sprintf("must be no more than %d characters", maxProcessType))
	}
	if !processTypeRE.MatchString(s) {
		probs = append(probs, "must consist of letters, digits, '_' or '-', as a Procfile's process types do (e.g. 'web' or 'worker')")
	}
	return probs
}

// checkProcessTypeKey appends an error for a map key that is not a
// process type name; p is the key's path.
func checkProcessTypeKey(errs FieldErrors, p, k string) FieldErrors {
	if probs := processTypeProblems(k); len(probs) > 0 {
		return append(errs, Invalid(p, k, "key "+joinProblems(probs)))
	}
	return errs
}

// domainProblems checks an App's domain: a lower-case DNS subdomain
// ("shop.example.com"), or one whose first label is the wildcard
// ("*.example.com").
func domainProblems(s string) []string {
	host := strings.TrimPrefix(s, "*.")
	if strings.Contains(host, "*") {
		return []string{"a wildcard may only be the whole first label, as in '*.example.com'"}
	}
	return IsDNS1123Subdomain(host)
}

// commitProblems checks a git commit id: 40 lower-case hex digits (SHA-1),
// or 64 in a SHA-256 repository.
func commitProblems(s string) []string {
	if len(s) != 40 && len(s) != 64 || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f')
	}) >= 0 {
		return []string{"must be a full commit id: 40 lower-case hex digits (64 in a SHA-256 repository), as `git rev-parse HEAD` prints it"}
	}
	return nil
}

// dockerfileProblems checks the Dockerfile's path in the repository.
func dockerfileProblems(s string) []string {
	switch {
	case path.IsAbs(s):
		return []string{"must be a path relative to the top of the repository, such as 'Dockerfile' or 'docker/web.Dockerfile'"}
	case strings.Contains("/"+s+"/", "/../"):
		return []string{"must not contain '..': the Dockerfile must be inside the repository"}
	case s == ".":
		return []string{"must name a file, such as 'Dockerfile'"}
	case path.Clean(s) != s:
		return []string{fmt.Sprintf("must be a clean path: write %q", path.Clean(s))}
	}
	return nil
}

// branchProblems checks a branch name by git's rules (git
// check-ref-format --branch), in short.
func branchProblems(s string) []string {
	if strings.HasPrefix(s, "refs/") {
		return []string{"must be a branch name such as 'main', not a ref"}
	}
	bad := strings.HasPrefix(s, "-") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") ||
		strings.HasSuffix(s, ".") || strings.HasSuffix(s, ".lock") || s == "@" ||
		strings.Contains(s, "..") || strings.Contains(s, "//") || strings.Contains(s, "@{") ||
		strings.Contains(s, "/.") || strings.HasPrefix(s, ".") ||
		strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r) }) >= 0
	if bad {
		return []string{"must be a valid git branch name (no spaces, '..', '~^:?*[\\', '@{', and no '-', '.' or '/' at the start of the name or of a part)"}
	}
	return nil
}

// validateApp checks an App's spec.
func validateApp(a *App) FieldErrors {
	s := &a.Spec
	errs := validateAppBuild(&s.Build, "spec.build")
	for _, k := range sortedKeys(s.Scale) {
		p := pathKey("spec.scale", k)
		errs = checkProcessTypeKey(errs, p, k)
		if v := s.Scale[k]; v < 0 || v > MaxAppScale {
			errs = append(errs, Invalid(p, v, fmt.Sprintf("must be between 0 and %d, inclusive", MaxAppScale)))
		}
	}
	seen := make(map[string]bool, len(s.Domains))
	for i, d := range s.Domains {
		p := pathIdx("spec.domains", i)
		errs = requireName(errs, p, d, domainProblems)
		if seen[d] {
			errs = append(errs, Duplicate(p, d))
		}
		seen[d] = true
	}
	errs = append(errs, validateAppHealthCheck(&s.HealthCheck, "spec.healthCheck")...)
	if s.Port != 0 {
		errs = checkPort(errs, "spec.port", s.Port)
	}
	if z := s.ScaleToZero; z != nil && (z.IdleMinutes < 0 || z.IdleMinutes > MaxIdleMinutes) {
		errs = append(errs, Invalid("spec.scaleToZero.idleMinutes", z.IdleMinutes,
			fmt.Sprintf("must be between 1 and %d (a week), inclusive", MaxIdleMinutes)))
	}
	errs = append(errs, validateResources(&s.Resources, "spec.resources")...)
	return errs
}

// validateAppBuild checks an App's build settings.
func validateAppBuild(b *AppBuild, p string) FieldErrors {
	var errs FieldErrors
	if b.Dockerfile != "" {
		errs = checkName(errs, p+".dockerfile", b.Dockerfile, dockerfileProblems)
	}
	for _, k := range sortedKeys(b.Args) {
		if probs := IsCIdentifier(k); len(probs) > 0 {
			errs = append(errs, Invalid(pathKey(p+".args", k), k, "key "+joinProblems(probs)))
		}
	}
	if b.Branch != "" {
		errs = checkName(errs, p+".branch", b.Branch, branchProblems)
	}
	return errs
}

// validateAppHealthCheck checks an App's health check. A zero field is
// unset: Default gives it its default.
func validateAppHealthCheck(h *AppHealthCheck, p string) FieldErrors {
	var errs FieldErrors
	if h.Path != "" && (!strings.HasPrefix(h.Path, "/") ||
		strings.IndexFunc(h.Path, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0) {
		errs = append(errs, Invalid(p+".path", h.Path, "must be a URL path starting with '/', without spaces (e.g. '/healthz')"))
	}
	if h.Port != 0 {
		errs = checkPort(errs, p+".port", h.Port)
	}
	for _, f := range []struct {
		name string
		v    int32
	}{{"timeoutSeconds", h.TimeoutSeconds}, {"periodSeconds", h.PeriodSeconds}, {"deadlineSeconds", h.DeadlineSeconds}, {"drainSeconds", h.DrainSeconds}} {
		if f.v < 0 {
			errs = append(errs, Invalid(p+"."+f.name, f.v, "must be at least 1 (or unset for the default)"))
		}
	}
	if h.DeadlineSeconds > MaxHealthCheckDeadlineSeconds {
		errs = append(errs, Invalid(p+".deadlineSeconds", h.DeadlineSeconds,
			fmt.Sprintf("must be no more than %d (an hour)", MaxHealthCheckDeadlineSeconds)))
	}
	return errs
}

// validateBuild checks a Build's spec and phase.
func validateBuild(b *Build) FieldErrors {
	var errs FieldErrors
	errs = requireName(errs, "spec.app", b.Spec.App, IsDNS1123Label)
	errs = requireName(errs, "spec.commit", b.Spec.Commit, commitProblems)
	errs = oneOf(errs, "status.phase", b.Status.Phase, BuildRunning, BuildSucceeded, BuildFailed)
	if b.Status.Port != 0 {
		errs = checkPort(errs, "status.port", b.Status.Port)
	}
	for _, k := range sortedKeys(b.Status.Processes) {
		errs = checkProcessTypeKey(errs, pathKey("status.processes", k), k)
	}
	return errs
}

// validateRelease checks a Release: its name, spec and phase.
func validateRelease(r *Release) FieldErrors {
	var errs FieldErrors
	s := &r.Spec
	errs = requireName(errs, "spec.app", s.App, IsDNS1123Label)
	if s.Version < 1 {
		errs = append(errs, Invalid("spec.version", s.Version, "must be at least 1: releases are numbered from 1"))
	}
	if want := ReleaseName(s.App, s.Version); s.Version >= 1 && len(IsDNS1123Label(s.App)) == 0 && r.Name != want {
		errs = append(errs, Invalid("metadata.name", r.Name, fmt.Sprintf("must be %q: a release is named <spec.app>-v<spec.version>", want)))
	}
	if s.Image == "" {
		errs = append(errs, Required("spec.image", "the image the release runs, by digest (name@sha256:…)"))
	}
	if s.Build != "" {
		errs = checkName(errs, "spec.build", s.Build, IsDNS1123Subdomain)
	}
	if s.Commit != "" {
		errs = checkName(errs, "spec.commit", s.Commit, commitProblems)
	}
	if s.Config != "" {
		errs = checkName(errs, "spec.config", s.Config, IsDNS1123Subdomain)
	}
	if len(s.Processes) == 0 {
		errs = append(errs, Required("spec.processes", "at least one process type, such as web"))
	}
	for _, k := range sortedKeys(s.Processes) {
		errs = checkProcessTypeKey(errs, pathKey("spec.processes", k), k)
	}
	if s.Port != 0 {
		errs = checkPort(errs, "spec.port", s.Port)
	}
	errs = oneOf(errs, "status.phase", r.Status.Phase,
		ReleasePending, ReleaseDeploying, ReleaseSucceeded, ReleaseFailed, ReleaseSuperseded)
	return errs
}

// immutableSpec reports every field in which the specs old and new (of
// one type, at path p) differ; why says what to do instead.
func immutableSpec(p string, old, new any, why string) FieldErrors {
	var errs FieldErrors
	for _, fp := range changedPaths(p, old, new) {
		errs = append(errs, &FieldError{Type: FieldInvalid, Field: fp, Detail: immutableDetail + ": " + why})
	}
	return errs
}
