#!/usr/bin/env bash
# up.sh — THE "build and start skiff" command: installs what skiff needs,
# builds bin/skiff and runs `skiff server` with the arguments given
# (defaults: --data-dir /var/lib/skiff --listen :8443).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export PATH="/usr/local/go/bin:$PATH"
make build
echo "up: starting skiff server; the admin config is written to <data-dir>/admin.yaml (default /var/lib/skiff/admin.yaml)"
exec bin/skiff server "$@"
