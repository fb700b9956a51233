// Package testimages builds the small OCI images skiff's tests and
// benchmarks run, offline, from the host's busybox-static (Debian package
// busybox-static, /bin/busybox): no registry is needed or reachable.
//
// Every image is one uncompressed layer, the same for all of them:
//
//	/bin/busybox            the host's static busybox
//	/bin/<applet>           symlinks to it (sh, sleep, httpd, wget, nc, ip, …)
//	/etc/passwd, /etc/group root (0) and nobody (65534)
//	/tmp (1777), /root, /proc, /sys, /dev, /usr/bin
//	/www/index.html         "hello from skiff"
//	/www/healthz            "ok", for httpGet probes on /healthz
//	/www-nohealthz/         index.html only: /healthz answers 404
//
// with a config naming what runs (see Images). Tar headers carry a fixed
// time and owner, so an image's digests depend only on the busybox binary
// and the Spec: the same host builds the same digests every time, and a
// test may refer to an image by digest as well as by name.
//
// The package writes image tarballs (OCI image layout, the form `ctr
// images import` and containerd's Import take); it does not import them
// into containerd — runtime/containerd does, in its tests.
package testimages
