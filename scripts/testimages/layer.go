package testimages

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"time"
)

// epochUnix (2000-01-01) is the time on every tar header, so that layers
// are reproducible.
const epochUnix = 946684800

// Applets are the busybox applets the layer links in /bin. Debian's
// busybox-static 1.35 has all of them.
func Applets() []string {
	return []string{
		"[", "ash", "awk", "base64", "basename", "cat", "chmod", "chown", "cp", "cut",
		"date", "dd", "df", "dirname", "du", "echo", "env", "expr", "false", "find",
		"free", "grep", "head", "hostname", "httpd", "id", "ifconfig", "ip", "kill",
		"ln", "ls", "md5sum", "mkdir", "mktemp", "mount", "mv", "nc", "netstat",
		"nslookup", "ping", "printf", "ps", "pwd", "readlink", "rev", "rm", "route",
		"sed", "seq", "sh", "sha256sum", "sleep", "sort", "stat", "sync", "tac",
		"tail", "tee", "test", "timeout", "top", "touch", "tr", "true", "umount",
		"uname", "uniq", "uptime", "usleep", "vi", "wc", "wget", "which", "whoami",
		"xargs", "yes",
	}
}

// Files written into the layer besides busybox.
const (
	passwd = "root:x:0:0:root:/root:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group = "root:x:0:\n" +
		"nobody:x:65534:\n"
	indexHTML = "hello from skiff\n"
	healthz   = "ok\n"
)

// rootfsLayer returns the uncompressed layer tar with the busybox binary
// at path busybox.
func rootfsLayer(busybox string) ([]byte, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("test image layer: read busybox (install busybox-static): %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) {
		tw.WriteHeader(header(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}))
	}
	file := func(name string, mode int64, b []byte) {
		tw.WriteHeader(header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(b))}))
		tw.Write(b)
	}
	// Entries in a fixed order; parents before children.
	dir("bin", 0o755)
	file("bin/busybox", 0o755, bb)
	for _, a := range Applets() {
		tw.WriteHeader(header(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}))
	}
	dir("dev", 0o755)
	dir("etc", 0o755)
	file("etc/group", 0o644, []byte(group))
	file("etc/passwd", 0o644, []byte(passwd))
	dir("proc", 0o555)
	dir("root", 0o700)
	dir("sys", 0o555)
	dir("tmp", 0o1777)
	dir("usr", 0o755)
	dir("usr/bin", 0o755)
	dir("www", 0o755)
	file("www/healthz", 0o644, []byte(healthz))
	file("www/index.html", 0o644, []byte(indexHTML))
	dir("www-nohealthz", 0o755)
	file("www-nohealthz/index.html", 0o644, []byte(indexHTML))
	// tar.Writer keeps its first error; Close reports it.
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("test image layer: %w", err)
	}
	return buf.Bytes(), nil
}

// header fills in what every entry shares: root owner, the fixed time,
// and the PAX-free USTAR format.
func header(h *tar.Header) *tar.Header {
	h.ModTime = time.Unix(epochUnix, 0).UTC()
	h.Uid, h.Gid = 0, 0
	h.Uname, h.Gname = "root", "root"
	h.Format = tar.FormatUSTAR
	return h
}
