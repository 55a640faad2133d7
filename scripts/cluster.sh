#!/usr/bin/env bash
# Brings up a whole antlerfs cluster on this machine: a master, three chunkservers, a metalogger,
# the S3 gateway and (as root, where /dev/fuse exists) a FUSE mount at <data>/mnt; each daemon has
# its own folder under the data folder (default ./data), logs in <data>/logs.
#   bash scripts/cluster.sh            start (installs what is missing first)
#   bash scripts/cluster.sh status     show what runs
#   bash scripts/cluster.sh stop       stop everything cleanly (SIGTERM, master last)
# Environment: ANTLER_DATA (data folder), ANTLER_HOST (listen address, default 127.0.0.1),
# ANTLER_RESERVE (free-space reserve per chunkserver disk, default 1G), ANTLER_S3_PORT (default 9000),
# ANTLER_MOUNT=0 to skip the mount.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA=$(mkdir -p "${ANTLER_DATA:-$ROOT/data}" && cd "${ANTLER_DATA:-$ROOT/data}" && pwd)
HOST=${ANTLER_HOST:-127.0.0.1}
RESERVE=${ANTLER_RESERVE:-1G}
# Disk work runs on libuv's pool, sized when a process starts (before any of its code runs).
export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-16}
CS_PORTS=(9422 9522 9622)
mkdir -p "$DATA/logs" "$DATA/pids"

running() { [ -f "$DATA/pids/$1.pid" ] && kill -0 "$(cat "$DATA/pids/$1.pid")" 2>/dev/null; }

wait_ready() { # name logfile
  for _ in $(seq 1 300); do
    if grep -q ' ready ' "$2" 2>/dev/null; then return 0; fi
    if ! running "$1"; then echo "cluster: $1 exited; last log lines:"; tail -n 20 "$2"; exit 1; fi
    sleep 0.1
  done
  echo "cluster: $1 did not become ready in 30 s; last log lines:"; tail -n 20 "$2"; exit 1
}

start() { # name logfile command...
  local name=$1 log=$2; shift 2
  if running "$name"; then echo "cluster: $name already running (pid $(cat "$DATA/pids/$name.pid"))"; return; fi
  : > "$log"
  nohup "$@" >>"$log" 2>&1 &
  echo $! > "$DATA/pids/$name.pid"
  wait_ready "$name" "$log"
  echo "cluster: $name ready: $(grep ' ready ' "$log" | tail -n 1 | sed 's/.* ready //')"
}

stop_one() {
  if running "$1"; then
    kill -TERM "$(cat "$DATA/pids/$1.pid")"
    for _ in $(seq 1 100); do running "$1" || break; sleep 0.1; done
    running "$1" && kill -KILL "$(cat "$DATA/pids/$1.pid")"
    echo "cluster: $1 stopped"
  fi
  rm -f "$DATA/pids/$1.pid"
}

case "${1:-start}" in
  stop)
    # An operator's order: clients, chunkservers, metalogger, master.
    stop_one mount
    stop_one s3
    for i in 3 2 1; do stop_one "chunkserver$i"; done
    stop_one metalogger
    stop_one master
    exit 0 ;;
  status)
    for n in master metalogger chunkserver1 chunkserver2 chunkserver3 s3 mount; do
      if running "$n"; then echo "$n: running (pid $(cat "$DATA/pids/$n.pid"))"; else echo "$n: stopped"; fi
    done
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|status|stop]" >&2; exit 2 ;;
esac

bash scripts/setup.sh >/dev/null
BIN=$ROOT/packages
start master "$DATA/logs/master.log" "$BIN/master/bin/antler-master" \
  --data-path "$DATA/master" --listen-host "$HOST"
start metalogger "$DATA/logs/metalogger.log" "$BIN/master/bin/antler-metalogger" \
  --data-path "$DATA/metalogger" --master-host "$HOST:9419" --metalogger-name local
for i in 1 2 3; do
  mkdir -p "$DATA/chunkserver$i/hdd"
  start "chunkserver$i" "$DATA/logs/chunkserver$i.log" "$BIN/chunkserver/bin/antler-chunkserver" \
    --data-path "$DATA/chunkserver$i" --hdd-paths "$DATA/chunkserver$i/hdd" \
    --hdd-reserve-bytes "$RESERVE" --csserv-listen-host "$HOST" \
    --csserv-listen-port "${CS_PORTS[$((i - 1))]}" --master-host "$HOST" --master-port 9420
done
S3_PORT=${ANTLER_S3_PORT:-9000}
if [ ! -f "$DATA/s3-credentials" ]; then
  umask 077
  echo "antler $(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)" > "$DATA/s3-credentials"
  umask 022
fi
start s3 "$DATA/logs/s3.log" "$BIN/client/bin/antler-s3" --master "$HOST:9421" \
  --s3-listen-host "$HOST" --s3-listen-port "$S3_PORT" --s3-credentials-file "$DATA/s3-credentials"
MOUNT_MSG="mount: skipped (needs root and /dev/fuse; ANTLER_MOUNT=0 skips it)"
if [ "${ANTLER_MOUNT:-1}" != 0 ] && [ "$(id -u)" = 0 ] && [ -e /dev/fuse ]; then
  mkdir -p "$DATA/mnt"
  if ! mountpoint -q "$DATA/mnt"; then
    start mount "$DATA/logs/mount.log" "$BIN/client/bin/antler-mount" "$DATA/mnt" -H "$HOST:9421"
  fi
  MOUNT_MSG="mount: the whole tree is at $DATA/mnt (ls, cp, git... work there)"
fi
read -r S3_KEY S3_SECRET < "$DATA/s3-credentials"
cat <<MSG

antlerfs is running: master $HOST:9421 (clients), $HOST:9420 (chunkservers),
monitor http://$HOST:9425/, chunkservers on ports ${CS_PORTS[*]}, metalogger in $DATA/metalogger;
data and logs in $DATA.
$MOUNT_MSG
S3: http://$HOST:$S3_PORT/ with access key $S3_KEY and secret $S3_SECRET ($DATA/s3-credentials), e.g.
  AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET aws --endpoint-url http://$HOST:$S3_PORT s3 ls

Try it:
  export PATH="$BIN/client/bin:\$PATH" ANTLER_MASTER=$HOST:9421
  antler put README.md /readme.md && antler ls -l / && antler fileinfo /readme.md
  antler setgoal 3 /readme.md && antler cat /readme.md | head
  antler metaloggers && antler df
Stop it with: bash scripts/cluster.sh stop
MSG
