package testimages

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultDebianMirror is the Debian archive debootstrap fetches from when
// Debian.Mirror is empty; it is the one this machine's apt uses.
const DefaultDebianMirror = "http://deb.debian.org/debian"

// debianPath is Debian's default PATH, what its official images set.
const debianPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Debian describes an image whose root filesystem debootstrap makes: a
// minimal Debian (--variant=minbase) with packages added, for what busybox
// cannot run, such as Python apps built with pip. Unlike the busybox
// images it is neither offline nor reproducible: debootstrap downloads
// the packages, and the layer keeps the files' own times and owners.
type Debian struct {
	// Ref is the image's full reference, such as skiff.test/python:3.
	Ref string
	// Suite is the Debian release, such as bookworm.
	Suite string
	// Mirror is the archive to fetch from; "" means DefaultDebianMirror.
	Mirror string
	// Include are the packages installed besides minbase's.
	Include []string
	// Remove are paths, relative to the root and possibly globs, removed
	// after debootstrap: package caches, and markers that make the image
	// behave unlike the official image it stands in for.
	Remove []string
	// Env is added after Debian's PATH; Cmd is the config's.
	Env []string
	Cmd []string
}

// DebianPython is a stand-in for the official python:3 image, with which
// skiff's Python recipe runs (pip install -r requirements.txt, then the
// Procfile's web): Debian bookworm with python3 and pip, named
// skiff.test/python:3. Like the official image, it has no PEP 668
// EXTERNALLY-MANAGED marker, so pip installs into the system Python, and
// pip does not look for a newer pip (an offline board has no index).
func DebianPython() Debian {
	return Debian{
		Ref:     Registry + "/python:3",
		Suite:   "bookworm",
		Include: []string{"python3", "python3-pip"},
		Remove: []string{
			"usr/lib/python3*/EXTERNALLY-MANAGED",
			"var/cache/apt/archives/*.deb",
			"var/cache/apt/*.bin",
			"var/lib/apt/lists/*",
		},
		Env: []string{"LANG=C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK=1"},
		Cmd: []string{"python3"},
	}
}

// Build runs debootstrap into rootDir, which must be empty or absent (a
// run builds its image afresh; nothing is reused), removes d.Remove, and
// writes the root filesystem as a one-layer OCI image layout tarball to
// tarPath. debootstrap's output goes to log (nil discards it). It needs
// root and debootstrap (Debian package debootstrap).
func (d Debian) Build(ctx context.Context, rootDir, tarPath string, log io.Writer) error {
	if err := d.validate(); err != nil {
		return err
	}
	if err := emptyDir(rootDir); err != nil {
		return fmt.Errorf("debian image %s: %w", d.Ref, err)
	}
	if err := d.bootstrap(ctx, rootDir, log); err != nil {
		return err
	}
	for _, pattern := range d.Remove {
		matches, err := filepath.Glob(filepath.Join(rootDir, pattern))
		if err != nil {
			return fmt.Errorf("debian image %s: remove %q: %w", d.Ref, pattern, err)
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("debian image %s: %w", d.Ref, err)
			}
		}
	}
	return writeDirImageFile(tarPath, rootDir, DirImage{Ref: d.Ref, Env: append([]string{debianPath}, d.Env...), Cmd: d.Cmd})
}

func (d Debian) validate() error {
	if d.Ref == "" || d.Suite == "" {
		return fmt.Errorf("debian image: want Ref and Suite, got %q and %q", d.Ref, d.Suite)
	}
	if _, tag, ok := cutTag(d.Ref); !ok || tag == "" {
		return fmt.Errorf("debian image %q: want a reference with a tag, such as %s/python:3", d.Ref, Registry)
	}
	return nil
}

// bootstrap runs debootstrap, and then unmounts whatever it left mounted
// in rootDir (a debootstrap that fails or is stopped leaves /proc and
// /sys mounted there).
func (d Debian) bootstrap(ctx context.Context, rootDir string, log io.Writer) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("debian image %s: debootstrap not found: install the debootstrap package (apt-get install debootstrap)", d.Ref)
	}
	mirror := d.Mirror
	if mirror == "" {
		mirror = DefaultDebianMirror
	}
	args := []string{"--variant=minbase"}
	if len(d.Include) > 0 {
		args = append(args, "--include="+strings.Join(d.Include, ","))
	}
	args = append(args, d.Suite, rootDir, mirror)
	cmd := exec.CommandContext(ctx, "debootstrap", args...)
	// Stopping it stops what it runs too (dpkg in the chroot).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if log == nil {
		log = io.Discard
	}
	var tail tailBuffer
	cmd.Stdout = io.MultiWriter(log, &tail)
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	unmountUnder(rootDir)
	if err != nil {
		return fmt.Errorf("debian image %s: debootstrap %s: %v; its output ends:\n%s\n(see debootstrap/debootstrap.log in the target for more)",
			d.Ref, strings.Join(args, " "), err, tail.String())
	}
	return nil
}

// emptyDir makes dir if it is absent and checks that it is empty.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("root directory %s is not empty (it holds %s): give a new directory, the root is built afresh each time", dir, ents[0].Name())
	}
	return nil
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && (f[1] == abs || strings.HasPrefix(f[1], abs+"/")) {
			points = append(points, f[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.b)) }
