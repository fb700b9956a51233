package testimages

import (
	"bytes"
	"fmt"
	"os"
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
	tw := newTarWriter(&buf)
	// Entries in a fixed order; parents before children.
	tw.dir("bin", 0o755)
	tw.file("bin/busybox", 0o755, bb)
	for _, a := range Applets() {
		tw.symlink("bin/"+a, "busybox")
	}
	tw.dir("dev", 0o755)
	tw.dir("etc", 0o755)
	tw.file("etc/group", 0o644, []byte(group))
	tw.file("etc/passwd", 0o644, []byte(passwd))
	tw.dir("proc", 0o555)
	tw.dir("root", 0o700)
	tw.dir("sys", 0o555)
	tw.dir("tmp", 0o1777)
	tw.dir("usr", 0o755)
	tw.dir("usr/bin", 0o755)
	tw.dir("www", 0o755)
	tw.file("www/healthz", 0o644, []byte(healthz))
	tw.file("www/index.html", 0o644, []byte(indexHTML))
	tw.dir("www-nohealthz", 0o755)
	tw.file("www-nohealthz/index.html", 0o644, []byte(indexHTML))
	if err := tw.close(); err != nil {
		return nil, fmt.Errorf("test image layer: %w", err)
	}
	return buf.Bytes(), nil
}
