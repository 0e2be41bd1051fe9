#!/usr/bin/env bash
# Issue 9's side-by-side run: presets A, B20, B5 and C against wavecast and
# its peers, each server started fresh for each test, pinned to CPU 0, the
# bench on CPU 1, one after the other, RUNS times (runs interleaved, so a
# drift of the machine touches every server alike). Writes one JSON per
# test to OUTDIR (NAME-TEST-RUN.json, the bench's stderr beside it);
# summarize them with scripts/peers/summarize.py OUTDIR.
#
#   scripts/peers/measure.sh OUTDIR RUNS "wc5 wc0 base uws nchan" "a b20 b5 c"
#
# Servers: wc5 = $BIN serve with the defaults (write coalescing, 5 ms
# window); wc0 = the same with coalescing off (delivery.coalesce_window =
# 0); base = $BASE_BIN (an older wavecast) with the defaults, base2 =
# $BASE2_BIN (another one); uws and
# nchan as in scripts/peers/README.md (installed there first). Every
# wavecast server runs the default configuration (embedded engine) plus a
# JWT secret, which A's connections authenticate with.
set -uo pipefail
OUT=$1; RUNS=$2; SERVERS=${3:-"wc5 wc0 uws nchan"}; TESTS=${4:-"a b20 b5 c"}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$REPO/target/release/wavecast}
SECRET=bench-secret-0123456789abcdef0123456789
mkdir -p "$OUT"
wait_port() { for _ in $(seq 1 100); do ss -ltnH "sport = :$1" | grep -q . && return 0; sleep 0.1; done; return 1; }
pid_on() { ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }

wavecast_at() { # binary window
  D=$(mktemp -d)
  local w=()
  [ -n "$2" ] && w=(WAVECAST_DELIVERY__COALESCE_WINDOW="$2")
  (cd "$D" && env "${w[@]}" WAVECAST_DATA_DIR="$D/data" WAVECAST_AUTH__JWT_SECRET=$SECRET \
    WAVECAST_LOG__LEVEL=warn taskset -c 0 "$1" serve --port 9000 >"$D/log" 2>&1 &)
  PORT=9000; wait_port 9000; PID=$(pid_on 9000)
  EXTRA="--server http://127.0.0.1:9000 --jwt-secret $SECRET"
  STOP="kill $PID"
}

peer_at() { # port
  PORT=$1
  EXTRA="--server http://127.0.0.1:$1 --sub-url-template ws://127.0.0.1:$1/sub/{channel} --pub-url-template http://127.0.0.1:$1/pub/{channel} --pub-body-template {data}"
}

start() {
  case $1 in
    wc5) wavecast_at "$BIN" "";;
    wc0) wavecast_at "$BIN" 0s;;
    base) wavecast_at "${BASE_BIN:?BASE_BIN: the older wavecast binary}" "";;
    base2) wavecast_at "${BASE2_BIN:?BASE2_BIN: a second older wavecast binary}" "";;
    uws)
      (PORT=9001 taskset -c 0 node "$REPO/scripts/peers/uws/server.js" >/tmp/uws.log 2>&1 &)
      peer_at 9001; wait_port 9001; PID=$(pid_on 9001); STOP="kill $PID";;
    nchan)
      N=$(mktemp -d); mkdir -p "$N/tmp"
      (taskset -c 0 nginx -p "$N/" -c "$REPO/scripts/peers/nchan/nginx.conf" -g 'daemon off;' >/tmp/nchan.log 2>&1 &)
      peer_at 9002; wait_port 9002; sleep 0.3
      PID=$(pgrep -P "$(cat "$N/nchan.pid")" | head -1); STOP="kill $(cat "$N/nchan.pid")";;
    *) echo "unknown server $1" >&2; exit 2;;
  esac
}
stop() { eval "$STOP"; for _ in $(seq 1 100); do ss -ltnH "sport = :$PORT" | grep -q . || break; sleep 0.1; done; sleep 1; }

for r in $(seq 1 "$RUNS"); do
  for s in $SERVERS; do
    for t in $TESTS; do
      case $t in a) args=(a);; b20) args=(b);; b5) args=(b --rate 5);; c) args=(c);; *) echo "unknown test $t" >&2; exit 2;; esac
      [ "$s" = wc0 ] && [ "$t" = a ] && continue   # coalescing does not touch idle memory
      start "$s"
      echo "$(date +%T) run $r $s $t pid=$PID" >&2
      # shellcheck disable=SC2086
      taskset -c 1 "$BIN" bench "${args[@]}" $EXTRA --server-pid "$PID" >"$OUT/$s-$t-$r.json" 2>"$OUT/$s-$t-$r.err"
      echo "  exit $?" >&2
      stop
    done
  done
done
