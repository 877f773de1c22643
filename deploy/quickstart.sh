#!/usr/bin/env bash
# imapfront quickstart: from a fresh Debian 12 machine to a working IMAPS
# proxy in front of a real (plaintext) Dovecot, proven by a real client.
#
#   deploy/quickstart.sh          install deps, build, start Dovecot + imapfront, run the demo client
#   deploy/quickstart.sh stop     stop the demo's imapfront and Dovecot
#   deploy/quickstart.sh status   show whether they are running
#
# Environment (all optional):
#   IMAPFRONT_DEMO_DIR       state dir, wiped on every start  (/tmp/imapfront-demo)
#   IMAPFRONT_PORT           IMAPS port of imapfront           (9993)
#   IMAPFRONT_STATS_PORT     stats HTTP port of imapfront       (9100)
#   IMAPFRONT_STARTTLS_PORT  IMAP+STARTTLS port of imapfront    (9143)
#   IMAPFRONT_BACKEND_PORT   plaintext IMAP port of Dovecot     (14300)
#   IMAPFRONT_LEGACY_PORT    IMAPS port of the legacy route     (9994)
#   IMAPFRONT_LEGACY_BACKEND_PORT  port of the Exchange-like Dovecot (14301)
#   IMAPFRONT_LOGIN_PORT     IMAPS port where imapfront logs users in (9995)
#   IMAPFRONT_BUILD_DIR      CMake build dir                    (<repo>/build)
#   IMAPFRONT_SKIP_DEPS=1    do not run deploy/install-deps.sh
#   IMAPFRONT_SKIP_BUILD=1   do not configure/build; use the binary in the build dir
#
# The proxy and Dovecot are left running; only 127.0.0.1 is listened on.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEMO_DIR="${IMAPFRONT_DEMO_DIR:-/tmp/imapfront-demo}"
BUILD_DIR="${IMAPFRONT_BUILD_DIR:-$REPO_ROOT/build}"
IMAPS_PORT="${IMAPFRONT_PORT:-9993}"
STATS_PORT="${IMAPFRONT_STATS_PORT:-9100}"
STARTTLS_PORT="${IMAPFRONT_STARTTLS_PORT:-9143}"
BACKEND_PORT="${IMAPFRONT_BACKEND_PORT:-14300}"
LEGACY_PORT="${IMAPFRONT_LEGACY_PORT:-9994}"
LEGACY_BACKEND_PORT="${IMAPFRONT_LEGACY_BACKEND_PORT:-14301}"
LOGIN_PORT="${IMAPFRONT_LOGIN_PORT:-9995}"
# On the login listener this user goes to the Exchange-like Dovecot, every
# other user to the first one (routes[].users).
LOGIN_USER=bob
LOGIN_PASSWORD=bob
# The second Dovecot advertises what Exchange 2003 does, and nothing more.
LEGACY_CAPABILITY="IMAP4 IMAP4rev1 LOGIN-REFERRALS MAILBOX-REFERRALS NAMESPACE LITERAL+ UIDPLUS CHILDREN"
MARKER=".imapfront-demo"
WAIT_SECONDS=10

# shellcheck source=deploy/lib-dovecot.sh
source "$REPO_ROOT/deploy/lib-dovecot.sh"

die() {
  echo "quickstart: error: $*" >&2
  local left=()
  if imapfront_pid >/dev/null 2>&1; then left+=(imapfront); fi
  if dovecot_running "$DEMO_DIR" 2>/dev/null; then left+=(dovecot); fi
  if dovecot_running "$DEMO_DIR/legacy" 2>/dev/null; then left+=("dovecot (legacy)"); fi
  if ((${#left[@]})); then
    echo "quickstart: still running from this demo: ${left[*]}; stop with: $0 stop" >&2
  fi
  exit 1
}

step() { printf '\n==> %s\n' "$*"; }

# now_ms: wall-clock milliseconds, for loops bounded in time as well as count.
now_ms() {
  local t="${EPOCHREALTIME/[.,]/}"
  echo "$((t / 1000))"
}

# Absolute paths everywhere: Dovecot and imapfront do not share our cwd.
case "$DEMO_DIR" in
  /*) ;;
  *) DEMO_DIR="$PWD/$DEMO_DIR" ;;
esac
case "$BUILD_DIR" in
  /*) ;;
  *) BUILD_DIR="$PWD/$BUILD_DIR" ;;
esac
IMAPFRONT_BIN="$BUILD_DIR/imapfront"
CONFIG="$DEMO_DIR/imapfront.json"
CERT="$DEMO_DIR/cert.pem"
KEY="$DEMO_DIR/key.pem"
PIDFILE="$DEMO_DIR/imapfront.pid"
LOG="$DEMO_DIR/imapfront.log"
ACCESS_LOG="$DEMO_DIR/access.log"

# imapfront_pid: print the pid of the demo's imapfront if it is running.
imapfront_pid() {
  local pid
  [[ -s "$PIDFILE" ]] || return 1
  pid="$(<"$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  grep -qa imapfront "/proc/$pid/cmdline" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

stop_imapfront() {
  local pid i
  pid="$(imapfront_pid)" || return 0
  echo "stopping imapfront (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  # The demo config sets shutdown_grace to 5 s.
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "imapfront (pid $pid) still running after 10 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

stop_demo() {
  [[ -d "$DEMO_DIR" ]] || return 0
  stop_imapfront
  if dovecot_running "$DEMO_DIR"; then
    echo "stopping dovecot (pid $(<"$(dovecot_pid_path "$DEMO_DIR")"))"
    dovecot_stop "$DEMO_DIR"
  fi
  if dovecot_running "$DEMO_DIR/legacy"; then
    echo "stopping the legacy dovecot (pid $(<"$(dovecot_pid_path "$DEMO_DIR/legacy")"))"
    dovecot_stop "$DEMO_DIR/legacy"
  fi
}

status_demo() {
  local pid rc=0
  if pid="$(imapfront_pid)"; then
    echo "imapfront: running (pid $pid), IMAPS on 127.0.0.1:$IMAPS_PORT, stats on http://127.0.0.1:$STATS_PORT/stats"
  else
    echo "imapfront: not running"
    rc=3
  fi
  if dovecot_running "$DEMO_DIR"; then
    echo "dovecot:   running (pid $(<"$(dovecot_pid_path "$DEMO_DIR")"))"
  else
    echo "dovecot:   not running"
    rc=3
  fi
  if dovecot_running "$DEMO_DIR/legacy"; then
    echo "dovecot (Exchange-like, behind the legacy route on 127.0.0.1:$LEGACY_PORT):" \
      "running (pid $(<"$(dovecot_pid_path "$DEMO_DIR/legacy")"))"
  else
    echo "dovecot (Exchange-like): not running"
    rc=3
  fi
  return "$rc"
}

# fresh_state_dir: wipe the state dir, but only if it is ours.
fresh_state_dir() {
  if [[ -e "$DEMO_DIR" && ! -d "$DEMO_DIR" ]]; then
    die "$DEMO_DIR exists and is not a directory"
  fi
  if [[ -d "$DEMO_DIR" && -n "$(ls -A "$DEMO_DIR")" && ! -e "$DEMO_DIR/$MARKER" ]]; then
    die "refusing to wipe $DEMO_DIR: it is not empty and was not made by this script (no $MARKER file). Set IMAPFRONT_DEMO_DIR to another directory."
  fi
  rm -rf "$DEMO_DIR"
  mkdir -p "$DEMO_DIR"
  touch "$DEMO_DIR/$MARKER"
}

# require_free_port PORT NAME VARIABLE
require_free_port() {
  if ! python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; then
    die "port $1 on 127.0.0.1 ($2) is already in use; free it or set $3 to another port"
  fi
}

install_deps() {
  if [[ "${IMAPFRONT_SKIP_DEPS:-0}" == 1 ]]; then
    echo "skipped (IMAPFRONT_SKIP_DEPS=1)"
    return
  fi
  "$REPO_ROOT/deploy/install-deps.sh" || die "installing dependencies failed (see above)"
}

build() {
  if [[ "${IMAPFRONT_SKIP_BUILD:-0}" == 1 ]]; then
    echo "skipped (IMAPFRONT_SKIP_BUILD=1)"
  else
    cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo ||
      die "cmake configure failed (see above)"
    cmake --build "$BUILD_DIR" -j"$(nproc)" || die "build failed (see above)"
  fi
  [[ -x "$IMAPFRONT_BIN" ]] || die "no imapfront binary at $IMAPFRONT_BIN"
}

make_certificate() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 30 \
    -keyout "$KEY" -out "$CERT" -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE \
    -addext keyUsage=critical,digitalSignature \
    -addext extendedKeyUsage=serverAuth 2>"$DEMO_DIR/openssl.log" ||
    die "openssl could not make a certificate: $(cat "$DEMO_DIR/openssl.log")"
  rm -f "$DEMO_DIR/openssl.log"
  chmod 0600 "$KEY"
  echo "certificate $CERT (CN=localhost, SAN DNS:localhost IP:127.0.0.1), key $KEY"
}

start_dovecot() {
  dovecot_bin >/dev/null || die "dovecot is not installed (apt-get install dovecot-imapd)"
  dovecot_write_config "$DEMO_DIR" "$BACKEND_PORT" imapfront-demo ||
    die "could not write the Dovecot config"
  dovecot_start "$DEMO_DIR" "$WAIT_SECONDS" || die "Dovecot did not start (see above)"
  echo "dovecot (pid $(<"$(dovecot_pid_path "$DEMO_DIR")")) serves plaintext IMAP on 127.0.0.1:$BACKEND_PORT" \
    "(user $DOVECOT_USER, password $DOVECOT_PASSWORD); config $(dovecot_conf_path "$DEMO_DIR")"
}

# A second Dovecot that claims only Exchange 2003's capabilities; Dovecot
# still implements the rest, but imapfront's legacy route only uses what it
# advertises. Before login Dovecot always adds its SASL mechanisms
# (AUTH=PLAIN), so that one is passed through, not emulated (and LOGIN needs
# PLAIN enabled in Dovecot).
start_legacy_dovecot() {
  dovecot_write_config "$DEMO_DIR/legacy" "$LEGACY_BACKEND_PORT" imapfront-demo-legacy \
    "protocol imap {
  imap_capability = $LEGACY_CAPABILITY
}
login_greeting = Microsoft Exchange Server 2003 IMAP4rev1 server (imitated by Dovecot) ready" ||
    die "could not write the legacy Dovecot config"
  # A second user, who lives only here: the login listener routes him here.
  printf '%s:{PLAIN}%s::::::\n' "$LOGIN_USER" "$LOGIN_PASSWORD" >>"$DEMO_DIR/legacy/dovecot/users" ||
    die "could not add $LOGIN_USER to the legacy Dovecot"
  dovecot_start "$DEMO_DIR/legacy" "$WAIT_SECONDS" || die "the legacy Dovecot did not start (see above)"
  echo "dovecot (pid $(<"$(dovecot_pid_path "$DEMO_DIR/legacy")")) on 127.0.0.1:$LEGACY_BACKEND_PORT" \
    "advertises only: $LEGACY_CAPABILITY"
}

write_imapfront_config() {
  imapfront_write_config "$CONFIG" "$IMAPS_PORT" "$STATS_PORT" "$BACKEND_PORT" "$CERT" "$KEY" \
    "$ACCESS_LOG" "$STARTTLS_PORT" "$LEGACY_PORT" "$LEGACY_BACKEND_PORT" "$LOGIN_PORT"
  echo "config $CONFIG:"
  sed 's/^/  /' "$CONFIG"
}

show_imapfront_log() {
  echo "--- $LOG ---" >&2
  tail -n 50 "$LOG" >&2 2>/dev/null || true
}

start_imapfront() {
  local out pid i
  out="$("$IMAPFRONT_BIN" --check-config "$CONFIG" 2>&1)" ||
    die "imapfront --check-config rejected $CONFIG:"$'\n'"$out"
  echo "imapfront --check-config: $out"

  # setsid: detached from this terminal, so closing it sends no SIGHUP (which
  # imapfront takes as "reload"). stdout and stderr go to the log.
  setsid "$IMAPFRONT_BIN" --config "$CONFIG" </dev/null >>"$LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$PIDFILE"

  local deadline=$(($(now_ms) + WAIT_SECONDS * 1000))
  for ((i = 0; i < WAIT_SECONDS * 20 && $(now_ms) < deadline; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" || rc=$?
      show_imapfront_log
      die "imapfront exited with status $rc during startup (log above)"
    fi
    if [[ "$(curl -s --max-time 1 "http://127.0.0.1:$STATS_PORT/healthz" 2>/dev/null)" == ok* ]]; then
      echo "imapfront (pid $pid) is healthy: IMAPS on 127.0.0.1:$IMAPS_PORT, stats on 127.0.0.1:$STATS_PORT"
      return
    fi
    sleep 0.1
  done
  show_imapfront_log
  die "imapfront did not answer http://127.0.0.1:$STATS_PORT/healthz with 'ok' within ${WAIT_SECONDS}s"
}

run_demo_client() {
  if ! python3 "$REPO_ROOT/deploy/demo_client.py" --host 127.0.0.1 --port "$IMAPS_PORT" \
    --cafile "$CERT" --user "$DOVECOT_USER" --password "$DOVECOT_PASSWORD"; then
    show_imapfront_log
    echo "--- $(dovecot_log_path "$DEMO_DIR") ---" >&2
    tail -n 20 "$(dovecot_log_path "$DEMO_DIR")" >&2 || true
    die "the demo client failed through imapfront (logs above)"
  fi
}

run_legacy_demo_client() {
  if ! python3 "$REPO_ROOT/deploy/legacy_demo_client.py" --host 127.0.0.1 --port "$LEGACY_PORT" \
    --cafile "$CERT" --user "$DOVECOT_USER" --password "$DOVECOT_PASSWORD"; then
    show_imapfront_log
    die "the legacy demo client failed through imapfront (log above)"
  fi
}

# Two users through the login listener: imapfront logs each in itself and
# picks the backend by name. The access log says where each one went.
run_login_demo() {
  local user password
  for user in "$DOVECOT_USER" "$LOGIN_USER"; do
    password="$DOVECOT_PASSWORD"
    [[ "$user" == "$LOGIN_USER" ]] && password="$LOGIN_PASSWORD"
    if ! python3 "$REPO_ROOT/deploy/demo_client.py" --host 127.0.0.1 --port "$LOGIN_PORT" \
      --cafile "$CERT" --user "$user" --password "$password" --size 20000; then
      show_imapfront_log
      die "the login demo failed for $user through imapfront (log above)"
    fi
  done
  local deadline=$(($(now_ms) + WAIT_SECONDS * 1000))
  until python3 - "$ACCESS_LOG" "$DOVECOT_USER" "$LOGIN_USER" <<'PY'; do
import json, sys
seen = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["listener"] == "login" and e["login"] == "ok":
        seen[e["user"]] = e["route"]
want = {sys.argv[2]: "default", sys.argv[3]: "login-" + sys.argv[3]}
if any(seen.get(u) != r for u, r in want.items()):
    sys.exit(1)
for u, r in want.items():
    print(f"  access log: user {u} logged in by imapfront, route {r}")
PY
    (($(now_ms) < deadline)) || die "the access log does not show both users on their routes"
    sleep 0.2
  done
}

show_stats() {
  local stats
  stats="$(curl -s --max-time 5 "http://127.0.0.1:$STATS_PORT/stats")" ||
    die "could not read http://127.0.0.1:$STATS_PORT/stats"
  python3 -m json.tool <<<"$stats" 2>/dev/null || printf '%s\n' "$stats"
  local metrics
  metrics="$(curl -s --max-time 5 "http://127.0.0.1:$STATS_PORT/metrics")" ||
    die "could not read http://127.0.0.1:$STATS_PORT/metrics"
  echo "Some of /metrics (Prometheus text):"
  grep -E '^(imapfront_build_info|imapfront_connections_(accepted_total|active)|imapfront_connections_closed_total\{reason="logout"\}|imapfront_relayed_bytes_total|imapfront_imap_emulated_total|imapfront_auth_[a-z]*_total|imapfront_tls_handshake_seconds_count|imapfront_session_duration_seconds_(sum|count)|process_resident_memory_bytes)' <<<"$metrics" |
    sed 's/^/  /'
}

show_howto() {
  cat <<EOF

imapfront is running in front of Dovecot. Try it:

  IMAPS with openssl:  openssl s_client -connect 127.0.0.1:$IMAPS_PORT -CAfile $CERT -crlf -quiet
                       (then type:  a1 LOGIN $DOVECOT_USER $DOVECOT_PASSWORD   a2 SELECT INBOX   a3 LOGOUT)
  IMAPS with curl:     curl --cacert $CERT imaps://127.0.0.1:$IMAPS_PORT/INBOX -u $DOVECOT_USER:$DOVECOT_PASSWORD
  STARTTLS, openssl:   openssl s_client -starttls imap -connect 127.0.0.1:$STARTTLS_PORT -CAfile $CERT -crlf -quiet
  STARTTLS, curl:      curl --ssl-reqd --cacert $CERT imap://127.0.0.1:$STARTTLS_PORT/INBOX -u $DOVECOT_USER:$DOVECOT_PASSWORD
  demo client again:   $REPO_ROOT/deploy/demo_client.py --port $IMAPS_PORT --cafile $CERT
  login by imapfront:  curl --cacert $CERT imaps://127.0.0.1:$LOGIN_PORT/INBOX -u $LOGIN_USER:$LOGIN_PASSWORD
                       (imapfront greets and logs users in itself: $DOVECOT_USER goes to the first
                       Dovecot, $LOGIN_USER to the Exchange-like one; see route= in $ACCESS_LOG)
  legacy route:        $REPO_ROOT/deploy/legacy_demo_client.py --port $LEGACY_PORT --cafile $CERT
                       (a Dovecot that advertises only Exchange 2003's list; imapfront adds
                       IDLE, UNSELECT, ID, AUTH=PLAIN, SPECIAL-USE: try them with openssl s_client
                       -connect 127.0.0.1:$LEGACY_PORT, e.g.  a1 CAPABILITY  a2 LOGIN ...  a3 IDLE)
  mail client:         server localhost, port $IMAPS_PORT, SSL/TLS, user $DOVECOT_USER, password $DOVECOT_PASSWORD
                       (trust $CERT)

  stats:               curl http://127.0.0.1:$STATS_PORT/stats
                       curl http://127.0.0.1:$STATS_PORT/metrics
  reload the config:   kill -HUP \$(cat $PIDFILE)      (after editing $CONFIG)

  logs:                imapfront  $LOG
                       access     $ACCESS_LOG
                       dovecot    $(dovecot_log_path "$DEMO_DIR")
                       legacy     $(dovecot_log_path "$DEMO_DIR/legacy")
  stop everything:     $0 stop
EOF
}

start_demo() {
  step "Installing dependencies (deploy/install-deps.sh)"
  install_deps

  step "Building imapfront in $BUILD_DIR"
  build

  step "Preparing $DEMO_DIR"
  stop_demo
  fresh_state_dir
  require_free_port "$BACKEND_PORT" "Dovecot" IMAPFRONT_BACKEND_PORT
  require_free_port "$IMAPS_PORT" "imapfront IMAPS" IMAPFRONT_PORT
  require_free_port "$STATS_PORT" "imapfront stats" IMAPFRONT_STATS_PORT
  require_free_port "$STARTTLS_PORT" "imapfront STARTTLS" IMAPFRONT_STARTTLS_PORT
  require_free_port "$LEGACY_PORT" "imapfront legacy route" IMAPFRONT_LEGACY_PORT
  require_free_port "$LEGACY_BACKEND_PORT" "the legacy Dovecot" IMAPFRONT_LEGACY_BACKEND_PORT
  require_free_port "$LOGIN_PORT" "imapfront login listener" IMAPFRONT_LOGIN_PORT
  make_certificate

  step "Starting Dovecot (plaintext IMAP backend) on 127.0.0.1:$BACKEND_PORT"
  start_dovecot

  step "Starting an Exchange-like Dovecot (the legacy route's backend) on 127.0.0.1:$LEGACY_BACKEND_PORT"
  start_legacy_dovecot

  step "Starting imapfront (IMAPS) on 127.0.0.1:$IMAPS_PORT"
  write_imapfront_config
  start_imapfront

  step "Running a real IMAP client through imapfront (deploy/demo_client.py)"
  run_demo_client

  step "A modern client through the legacy route on 127.0.0.1:$LEGACY_PORT (deploy/legacy_demo_client.py)"
  run_legacy_demo_client

  step "Routing by user: $DOVECOT_USER and $LOGIN_USER log in through imapfront on 127.0.0.1:$LOGIN_PORT"
  run_login_demo

  step "Stats (http://127.0.0.1:$STATS_PORT/stats)"
  show_stats

  show_howto
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

case "${1:-start}" in
  start) start_demo ;;
  stop)
    stop_demo
    echo "demo stopped (state kept in $DEMO_DIR)"
    ;;
  status) status_demo ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 1
    ;;
esac
