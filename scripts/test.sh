#!/usr/bin/env bash
# The whole test suite: install, type-check, then unit and cluster tests.
# Closes with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/test-deps.sh
echo "test: type-checking"
pnpm run -s build
exec node --import tsx test/run.ts "$@"
