#!/usr/bin/env bash
# install-deps.sh — install what building and testing skiff needs on a
# fresh Debian 12 (as root). Idempotent: installs only what is missing.
set -euo pipefail

need_go="1.26"
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-deps: Go $need_go or newer is required (https://go.dev/dl/); put it on PATH or in /usr/local/go" >&2
  exit 1
fi
have_go=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -1)" != "$need_go" ]; then
  echo "install-deps: Go $have_go is too old; skiff needs $need_go or newer" >&2
  exit 1
fi

# Debian packages skiff's build and tests use: containerd and runc run
# pods (runtime/containerd tests a real containerd child, ctr inspects it
# in the node tests); containernetworking-plugins (bridge, host-local,
# portmap) and iptables (which the bridge and portmap plugins call) give
# pods their network; util-linux's nsenter runs a test node in its own
# network namespace; busybox-static is the test images' userland;
# docker-registry is the loopback registry image pulls are tested against;
# wireguard-go is the userspace WireGuard netstack/overlay's wireguard
# backend runs (and its tests run) on a kernel without WireGuard;
# openssh-client pushes over git's SSH transport in the tests; debootstrap
# makes the Debian rootfs (with python3) of the Python app test; pebble is
# the ACME server the ingress's certificates are tested against.
packages=(git make ca-certificates curl procps iproute2 util-linux containerd runc
  containernetworking-plugins iptables busybox-static docker-registry wireguard-go openssh-client
  debootstrap pebble)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The tests run their own registry on loopback; the package's service
  # (on :5000) is not wanted.
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi
echo "install-deps: ok (go $have_go)"
