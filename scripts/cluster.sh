#!/usr/bin/env bash
# Brings up a whole antlerfs cluster on this machine: one master and three chunkservers, each with
# its own folder under the data folder (default ./data), logs in <data>/logs.
#   bash scripts/cluster.sh            start (installs what is missing first)
#   bash scripts/cluster.sh status     show what runs
#   bash scripts/cluster.sh stop       stop everything cleanly (SIGTERM, master last)
# Environment: ANTLER_DATA (data folder), ANTLER_HOST (listen address, default 127.0.0.1),
# ANTLER_RESERVE (free-space reserve per chunkserver disk, default 1G).
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
    for i in 3 2 1; do stop_one "chunkserver$i"; done
    stop_one master
    exit 0 ;;
  status)
    for n in master chunkserver1 chunkserver2 chunkserver3; do
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
for i in 1 2 3; do
  mkdir -p "$DATA/chunkserver$i/hdd"
  start "chunkserver$i" "$DATA/logs/chunkserver$i.log" "$BIN/chunkserver/bin/antler-chunkserver" \
    --data-path "$DATA/chunkserver$i" --hdd-paths "$DATA/chunkserver$i/hdd" \
    --hdd-reserve-bytes "$RESERVE" --csserv-listen-host "$HOST" \
    --csserv-listen-port "${CS_PORTS[$((i - 1))]}" --master-host "$HOST" --master-port 9420
done
cat <<MSG

antlerfs is running: master $HOST:9421 (clients), $HOST:9420 (chunkservers),
monitor http://$HOST:9425/, chunkservers on ports ${CS_PORTS[*]}; data and logs in $DATA.

Try it:
  export PATH="$BIN/client/bin:\$PATH" ANTLER_MASTER=$HOST:9421
  antler put README.md /readme.md && antler ls -l / && antler fileinfo /readme.md
  antler setgoal 3 /readme.md && antler cat /readme.md | head
Stop it with: bash scripts/cluster.sh stop
MSG
