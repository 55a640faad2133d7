#!/usr/bin/env bash
# Installs what antlerfs needs on a machine with Node 20 and npm: pnpm, then the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm $PNPM_VERSION with npm"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi
if [ -f pnpm-lock.yaml ]; then
  npm_config_nodedir=/usr pnpm install --frozen-lockfile
else
  npm_config_nodedir=/usr pnpm install
fi
