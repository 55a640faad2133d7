#!/usr/bin/env bash
# Debian packages the cluster tests drive as real programs: fuse3 (antler-mount), fio, rsync,
# git, tar (POSIX workloads on the mount), awscli, s3cmd, rclone (S3 gateway clients), iproute2
# (`ip netns`: cluster hosts as network namespaces).
# Installs only what is missing; needs root and apt-get (CI runs as root). Without them the
# tests that need a program fail and say which one is missing.
set -euo pipefail
want=(fuse3 fio rsync git tar awscli s3cmd rclone iproute2)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: cannot install ${missing[*]} (needs root and apt-get)" >&2
  exit 0
fi
echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
