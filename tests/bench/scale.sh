#!/usr/bin/env bash
# The scale run: SESSIONS concurrent idle TLS sessions through imapfront
# (2 workers), then a NOOP on a random sample of 1,000 of them.
#
#   tests/bench/scale.sh                 # 100,000 sessions
#   SESSIONS=20000 SOURCES=4 tests/bench/scale.sh
#
# One client address reaches one server port from at most the ephemeral port
# range (~28k, or 64k widened), so imapfront_loadgen spreads its sessions
# over SOURCES loopback addresses (127.0.0.1 .. 127.0.0.SOURCES). The kernel
# settings the run needs are set here and put back at exit, and every one is
# reported: the ephemeral port range, the listen backlog, the system's file
# limits, and this shell's RLIMIT_NOFILE (raised to its hard limit; raising
# the hard limit itself needs CAP_SYS_RESOURCE). Each imapfront session holds
# two descriptors (client and backend), so imapfront needs 2 x SESSIONS +
# slack; the sink and the load generator one each. Where the hard limit is
# lower, the run says so and measures the most sessions that fit.
# Figures only: nothing here is a test.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/common.sh"
SESSIONS=${SESSIONS:-100000}
SOURCES=${SOURCES:-8}
WORKERS=${WORKERS:-2}
PORT_BASE=${PORT_BASE:-27990}
OUT=${OUT:-/tmp/imapfront-scale/$(date +%Y%m%d-%H%M%S)}
SINK_PORT=$PORT_BASE
LISTEN_PORT=$((PORT_BASE + 3))
mkdir -p "$OUT"

# ---- kernel settings ------------------------------------------------------------
declare -A WANT=(
  [net.ipv4.ip_local_port_range]="1024 65535"
  [net.core.somaxconn]=65535
  [net.ipv4.tcp_max_syn_backlog]=65535
  [fs.file-max]=4194304
  [fs.nr_open]=1048576
)
declare -A WAS=()
restore() {
  local k
  for k in "${!WAS[@]}"; do sysctl -qw "$k=${WAS[$k]}" 2>/dev/null; done
}
echo "kernel settings (before -> during the run):"
for k in "${!WANT[@]}"; do
  WAS[$k]=$(sysctl -n "$k" 2>/dev/null | tr '\t' ' ')
  # Never lower a limit the machine already has higher.
  if [[ $k == fs.* ]] && (( ${WAS[$k]:-0} >= ${WANT[$k]} )); then
    now=${WAS[$k]}
  elif sysctl -qw "$k=${WANT[$k]}" 2>/dev/null; then
    now=$(sysctl -n "$k" | tr '\t' ' ')
  else
    now="${WAS[$k]} (could not be set)"
  fi
  echo "  $k: ${WAS[$k]} -> $now"
done

# ---- file descriptors -------------------------------------------------------------
hard=$(ulimit -Hn)
need=$((2 * SESSIONS + 256))
if ((hard < need)) && ulimit -Hn "$need" 2>/dev/null; then hard=$need; fi
ulimit -n "$hard"
echo "RLIMIT_NOFILE: soft=$(ulimit -n) hard=$hard (imapfront needs $need for $SESSIONS sessions)"
RUN_SESSIONS=$SESSIONS
if ((hard < need)); then
  RUN_SESSIONS=$(((hard - 256) / 2))
  echo "LIMITED: this process may hold $hard descriptors and cannot raise that (no"
  echo "  CAP_SYS_RESOURCE), so one imapfront process can serve at most $RUN_SESSIONS"
  echo "  sessions here; measuring $RUN_SESSIONS instead of $SESSIONS."
fi

# ---- the run ------------------------------------------------------------------------
SINK_PID=
PX_PID=
trap 'stop "$PX_PID"; stop "$SINK_PID"; restore' EXIT
trap 'exit 130' INT TERM

make_cert ecdsa "$OUT"
imapfront_config "$OUT/imapfront.json" "$WORKERS" "$OUT/ecdsa.crt" "$OUT/ecdsa.key" \
  "$LISTEN_PORT" "$SINK_PORT" $((RUN_SESSIONS + 100)) "$OUT/access.log"
"$SINK" -p "$SINK_PORT" -t 2 > "$OUT/sink.log" 2>&1 &
SINK_PID=$!
"$IMAPFRONT" --config "$OUT/imapfront.json" > "$OUT/imapfront.log" 2>&1 &
PX_PID=$!
wait_ready "$PX_PID" "$LISTEN_PORT" || { echo "imapfront not ready:" >&2; tail -3 "$OUT/imapfront.log" >&2; exit 1; }
echo "opening $RUN_SESSIONS sessions from $SOURCES source addresses through imapfront ($WORKERS workers)"
timeout 900 "$LG" idle -m "$RUN_SESSIONS" --sources "$SOURCES" -t 2 --inflight 64 --settle 2 --hold 2 \
  --login -p "$LISTEN_PORT" --pid "$PX_PID" --sink-pid "$SINK_PID" --timeout 800 \
  2>"$OUT/loadgen.err" | tee "$OUT/loadgen.out"
rc=${PIPESTATUS[0]}
echo "imapfront's own log (warnings and errors):"
sed 's/^/  /' "$OUT/imapfront.log" | tail -5
echo "loadgen rc=$rc; output in $OUT"
exit "$rc"
