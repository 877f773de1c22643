#!/usr/bin/env bash
# imapfront, HAProxy and hitch side by side, in one run, on this machine.
#
#   tests/bench/side-by-side.sh                  # all three, workers 1 and 2
#   WORKERS_LIST=1 BULK_BYTES=256M tests/bench/side-by-side.sh imapfront haproxy
#
# Every proxy terminates TLS 1.3 (TLS_AES_128_GCM_SHA256, ECDSA P-256; RSA-2048
# for the RSA handshake row) in front of the same plaintext IMAP sink
# (imapfront_sink), driven by the same load generator (imapfront_loadgen), in
# the scenarios of the shared harness: bulk APPEND (c=1, c=4), NOOP round
# trips (c=50, c=1), new sessions (c=1 latency, c=128 ECDSA and RSA) and idle
# sessions. The figure that compares best on a small machine is the proxy's
# own CPU per unit of work (its process tree's utime+stime over the measured
# phase); the table prints it for each proxy and the ratio imapfront/other.
# Figures only: nothing here is a test, nothing asserts.
#
# Needs: build/imapfront and build/tests/imapfront_{loadgen,sink} (cmake
# --build build), haproxy and hitch from Debian (apt-get install haproxy
# hitch), openssl (the command, for the certificates). Everything listens on
# 127.0.0.1; every process is stopped by the PID this script started.
# Knobs: WORKERS_LIST ["1 2"], REPEAT [2], BULK_BYTES [1G], IDLE_M [5000],
# HS_SECS [5], PORT_BASE [26990], OUT [/tmp/imapfront-side-by-side/<time>].
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/bench/common.sh"
WORKERS_LIST=${WORKERS_LIST:-"1 2"}
REPEAT=${REPEAT:-2}
BULK_BYTES=${BULK_BYTES:-1G}
IDLE_M=${IDLE_M:-5000}
HS_SECS=${HS_SECS:-5}
PORT_BASE=${PORT_BASE:-26990}
OUT=${OUT:-/tmp/imapfront-side-by-side/$(date +%Y%m%d-%H%M%S)}
PROXIES=${*:-"imapfront haproxy hitch"}
SINK_PORT=$PORT_BASE
LISTEN_PORT=$((PORT_BASE + 3))

for p in $PROXIES; do
  [[ $p == imapfront ]] || command -v "$p" >/dev/null ||
    { echo "missing $p: apt-get install $p" >&2; exit 1; }
done
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"

# ---- certificates ----------------------------------------------------------------
CERTS=$OUT/certs
mkdir -p "$CERTS"
make_cert ecdsa "$CERTS"
make_cert rsa "$CERTS"
chmod 644 "$CERTS"/*  # hitch reads them before dropping to nobody; scratch keys

# ---- processes (only the PIDs started here) ----------------------------------------
SINK_PID=
PX_PID=
trap 'stop "$PX_PID"; stop "$SINK_PID"' EXIT
trap 'exit 130' INT TERM

start_proxy() {  # name kind workers -> PX_PID
  local name=$1 kind=$2 w=$3 dir=$OUT/w$3-$1-$2 i
  mkdir -p "$dir"
  case $name in
    imapfront)
      imapfront_config "$dir/imapfront.json" "$w" "$CERTS/$kind.crt" "$CERTS/$kind.key" \
        "$LISTEN_PORT" "$SINK_PORT" 8000 "$dir/access.log"
      "$IMAPFRONT" --config "$dir/imapfront.json" > "$dir/proxy.log" 2>&1 &
      ;;
    haproxy)
      cat > "$dir/haproxy.cfg" <<CONF
global
    nbthread $w
    maxconn 8000
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256
    ssl-default-bind-options ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3
defaults
    mode tcp
    timeout connect 5s
    timeout client 600s
    timeout server 600s
    maxconn 8000
frontend imaps
    bind 127.0.0.1:$LISTEN_PORT ssl crt $CERTS/$kind.pem
    default_backend sink
backend sink
    server sink 127.0.0.1:$SINK_PORT
CONF
      haproxy -db -f "$dir/haproxy.cfg" > "$dir/proxy.log" 2>&1 &
      ;;
    hitch)
      mkdir -p "$dir/ocsp" && chmod 777 "$dir/ocsp"
      cat > "$dir/hitch.conf" <<CONF
frontend = "[127.0.0.1]:$LISTEN_PORT"
backend = "[127.0.0.1]:$SINK_PORT"
pem-file = "$CERTS/$kind.pem"
workers = $w
daemon = off
tls-protos = TLSv1.3
ciphersuites = "TLS_AES_128_GCM_SHA256"
ocsp-dir = "$dir/ocsp"
backlog = 1024
syslog = off
user = "nobody"
group = "nogroup"
CONF
      hitch --config="$dir/hitch.conf" > "$dir/proxy.log" 2>&1 &
      ;;
  esac
  PX_PID=$!
  wait_ready "$PX_PID" "$LISTEN_PORT" && return 0
  if kill -0 "$PX_PID" 2>/dev/null; then
    echo "$name not ready after 15 s" >&2
  else
    echo "$name exited at start:" >&2; tail -3 "$dir/proxy.log" >&2
  fi
  stop "$PX_PID"; PX_PID=
  return 1
}

TSV=$OUT/results.tsv
: > "$TSV"
run() {  # workers proxy scenario-id loadgen-args...
  local w=$1 p=$2 id=$3 res
  shift 3
  res=$(timeout 200 "$LG" "$@" -p "$LISTEN_PORT" --login --pid "$PX_PID" --sink-pid "$SINK_PID" \
    --timeout 150 2>>"$OUT/loadgen.err" | grep '^RESULT' | tail -1)
  printf '%s\t%s\t%s\t%s\n' "$w" "$p" "$id" "${res:-RESULT missing=1}" >> "$TSV"
  printf '  W=%s %-9s %-8s %s\n' "$w" "$p" "$id" \
    "$(grep -oE '(mbps|cmds_per_s|hs_per_s|rss_kb_per_conn|proxy_cpu_[a-z_]+|p50_us|sess_p50_us|failed)=[^ ]+' <<<"$res" | tr '\n' ' ')"
}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/{print $2}') GiB, kernel $(uname -r)"
  echo "imapfront: $("$IMAPFRONT" --version | head -1)"
  command -v haproxy >/dev/null && echo "haproxy: $(haproxy -v | head -1)"
  command -v hitch >/dev/null && echo "hitch: $(hitch --version 2>&1 | head -1)"
} | tee "$OUT/facts.txt"

"$SINK" -p "$SINK_PORT" -t 2 > "$OUT/sink.log" 2>&1 &
SINK_PID=$!
sleep 0.3
for w in $WORKERS_LIST; do
  for p in $PROXIES; do
    echo "== $p, $w worker(s)"
    start_proxy "$p" ecdsa "$w" || continue
    for r in $(seq "$REPEAT"); do
      run "$w" "$p" bulk1 bulk -c 1 -n "$BULK_BYTES"
      run "$w" "$p" bulk4 bulk -c 4 -n "$BULK_BYTES"
      run "$w" "$p" small small -c 50 -k 400
      run "$w" "$p" small1 small -c 1 -k 2000
      run "$w" "$p" hs1 handshake -c 1 -d 2
      run "$w" "$p" hs-ecdsa handshake -c 128 -d "$HS_SECS"
    done
    run "$w" "$p" idle idle -m "$IDLE_M" --settle 1 --hold 1
    stop "$PX_PID"; PX_PID=
    start_proxy "$p" rsa "$w" || continue
    for r in $(seq "$REPEAT"); do run "$w" "$p" hs-rsa handshake -c 128 -d "$HS_SECS"; done
    stop "$PX_PID"; PX_PID=
  done
done

python3 "$ROOT/tests/bench/side_by_side_table.py" "$TSV" "$OUT/facts.txt" $PROXIES | tee "$OUT/RESULTS.md"
echo "raw: $TSV"
