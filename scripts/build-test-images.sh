#!/bin/sh
# build-test-images.sh [OUTDIR] — write skiff's offline test images
# (OCI-layout tarballs built from /bin/busybox, see scripts/testimages)
# to OUTDIR, default bin/test-images under the repository root. Prints
# one line per image: reference, manifest digest, tarball path.
# Needs Go and Debian's busybox-static (scripts/install-deps.sh).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
# The default is under the repository root; a relative OUTDIR is taken
# from the current directory.
out=${1:-$root/bin/test-images}
case $out in
/*) ;;
*) out=$(pwd)/$out ;;
esac
if [ ! -x /bin/busybox ]; then
	echo "build-test-images: /bin/busybox missing; install busybox-static (scripts/install-deps.sh)" >&2
	exit 1
fi
cd "$root"
exec go run ./scripts/testimages/build "$out"
