package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// The table columns of the app kinds (App, Build, Release), hooked into
// columns and cells in printer.go.

// paasColumns returns the columns of kind, one of App, Build and Release.
func paasColumns(kind string, wide bool) []string {
	var cols, extra []string
	switch kind {
	case "App":
		cols = []string{"NAME", "RELEASE", "PROCESSES", "URL", "AGE"}
		extra = []string{"DOMAINS", "IDLE AFTER"}
	case "Build":
		cols = []string{"NAME", "APP", "COMMIT", "PHASE", "DURATION", "AGE"}
		extra = []string{"NODE", "KIND", "CACHED", "IMAGE"}
	case "Release":
		cols = []string{"NAME", "APP", "VERSION", "PHASE", "IMAGE", "DESCRIPTION", "AGE"}
		extra = []string{"COMMIT", "BUILD", "CREATED BY"}
	}
	if wide {
		cols = append(cols, extra...)
	}
	return cols
}

// paasCells returns the row of an App, Build or Release.
func paasCells(obj api.Object, wide bool, now time.Time) []string {
	m := obj.GetObjectMeta()
	age := humanAge(m.CreationTimestamp, now)
	switch o := obj.(type) {
	case *api.App:
		url := ""
		if len(o.Status.URLs) > 0 {
			url = o.Status.URLs[0]
		}
		r := []string{m.Name, orNone(o.Status.Release), tableProcesses(&o.Status), orNone(url), age}
		if wide {
			idle := "<none>" // never scaled to zero
			if z := o.Spec.ScaleToZero; z != nil {
				idle = fmt.Sprintf("%dm", z.IdleMinutes)
			}
			r = append(r, orNone(strings.Join(o.Spec.Domains, ",")), idle)
		}
		return r
	case *api.Build:
		r := []string{m.Name, o.Spec.App, tableCommit(o.Spec.Commit), orNone(string(o.Status.Phase)), tableBuildDuration(&o.Status, now), age}
		if wide {
			cached := "<none>"
			if o.Status.Steps > 0 {
				cached = fmt.Sprintf("%d/%d", o.Status.CachedSteps, o.Status.Steps)
			}
			r = append(r, orNone(o.Status.Node), orNone(o.Status.Kind), cached, orNone(tableImage(o.Status.Image)))
		}
		return r
	case *api.Release:
		r := []string{m.Name, o.Spec.App, fmt.Sprintf("v%d", o.Spec.Version), orNone(string(o.Status.Phase)),
			orNone(tableImage(o.Spec.Image)), orNone(o.Spec.Description), age}
		if wide {
			r = append(r, orNone(tableCommit(o.Spec.Commit)), orNone(o.Spec.Build), orNone(o.Spec.CreatedBy))
		}
		return r
	}
	return []string{m.Name, age}
}

// tableProcesses renders an app's process types as "web=2/2 worker=1/1"
// (ready/wanted), with "(idle)" while the app is scaled to zero.
func tableProcesses(s *api.AppStatus) string {
	parts := make([]string, len(s.Processes))
	for i, p := range s.Processes {
		parts[i] = fmt.Sprintf("%s=%d/%d", p.Type, p.ReadyReplicas, p.Replicas)
	}
	out := strings.Join(parts, " ")
	if s.Idle {
		out = strings.TrimSpace(out + " (idle)")
	}
	return orNone(out)
}

// tableCommit is a commit's first 7 hex digits, as git log --oneline
// shows it.
func tableCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}

// tableImage cuts an image's digest to its first 12 hex digits:
// "registry/shop@sha256:8f434346648f". An image without a digest is shown
// whole.
func tableImage(image string) string {
	repo, digest, ok := strings.Cut(image, "@")
	if !ok {
		return image
	}
	algo, hex, ok := strings.Cut(digest, ":")
	if !ok || len(hex) <= 12 {
		return image
	}
	return repo + "@" + algo + ":" + hex[:12]
}

// tableBuildDuration is how long a build ran, or has been running.
func tableBuildDuration(s *api.BuildStatus, now time.Time) string {
	if s.StartTime == nil {
		return "<none>"
	}
	end := now
	if s.CompletionTime != nil {
		end = s.CompletionTime.Time
	}
	return tableDuration(end.Sub(s.StartTime.Time))
}

// tableDuration renders a duration as kubectl renders a job's: 45s, 2m30s,
// 15m, 3h20m, 30h, 5d.
func tableDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 0:
		return "0s"
	case s < 120:
		return fmt.Sprintf("%ds", s)
	case s < 10*60:
		if s%60 == 0 {
			return fmt.Sprintf("%dm", s/60)
		}
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case s < 3*3600:
		return fmt.Sprintf("%dm", s/60)
	case s < 8*3600:
		if m := s % 3600 / 60; m != 0 {
			return fmt.Sprintf("%dh%dm", s/3600, m)
		}
		return fmt.Sprintf("%dh", s/3600)
	case s < 48*3600:
		return fmt.Sprintf("%dh", s/3600)
	}
	return fmt.Sprintf("%dd", s/86400)
}
