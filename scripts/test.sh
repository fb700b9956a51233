#!/usr/bin/env bash
# test.sh — THE test command: installs what the tests need, then runs lint
# and every test (unit, integration over real HTTPS, CLI end-to-end against
# the built binary, fuzz seeds). .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
export PATH="/usr/local/go/bin:$PATH"
make lint
make test
