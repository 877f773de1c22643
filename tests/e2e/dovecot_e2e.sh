#!/usr/bin/env bash
# End-to-end test: a real IMAP client talks IMAPS to imapfront, which talks
# plaintext IMAP to a real Dovecot. Then the stats must account for every
# connection, and SIGTERM must stop imapfront with status 0.
#
#   tests/dovecot_e2e.sh /path/to/imapfront
#
# Exit status: 0 pass, 1 fail, 77 skip (Dovecot or a tool is not installed).
# IMAPFRONT_E2E_KEEP=1 keeps the temporary directory for inspection.
set -euo pipefail

SKIP=77
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=deploy/lib-dovecot.sh
source "$REPO_ROOT/deploy/lib-dovecot.sh"
DOVECOT_FOREGROUND=1 # our child, so a harness killing our process tree kills it too

info() { echo "dovecot_e2e: $*"; }
fail() {
  echo "dovecot_e2e: FAIL: $*" >&2
  exit 1
}
skip() {
  echo "SKIP: $*"
  exit "$SKIP"
}

if [[ $# -ne 1 ]]; then
  echo "usage: $0 /path/to/imapfront" >&2
  exit 1
fi
IMAPFRONT="$1"
[[ "$IMAPFRONT" == /* ]] || IMAPFRONT="$PWD/$IMAPFRONT"
[[ -x "$IMAPFRONT" ]] || fail "no executable imapfront at $IMAPFRONT"

dovecot_bin >/dev/null || skip "dovecot not installed (apt-get install dovecot-imapd)"
for tool in python3 openssl timeout; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/imapfront-e2e.XXXXXX")"
IMAPFRONT_PID=""
IMAPFRONT_LOG="$WORK/imapfront.log"
ACCESS_LOG="$WORK/access.log"
CONFIG="$WORK/imapfront.json"
CERT="$WORK/cert.pem"
KEY="$WORK/key.pem"

show_file() {
  echo "----- $1 -----" >&2
  if [[ -f "$1" ]]; then tail -n "${2:-60}" "$1" >&2; else echo "(missing)" >&2; fi
}

# stop_pid PID SECONDS: SIGTERM, wait (bounded), SIGKILL; PID must be our
# child. Sets STOP_RC to its exit status.
STOP_RC=0
stop_pid() {
  local pid="$1" limit="$2" i
  STOP_RC=0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    # A zombie still answers kill -0; it is done, wait reaps it below.
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; then
    echo "dovecot_e2e: pid $pid still running after ${limit}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || STOP_RC=$?
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$IMAPFRONT_PID" ]]; then
    stop_pid "$IMAPFRONT_PID" 5
  fi
  dovecot_stop "$WORK" 5 || true
  if ((rc != 0)); then
    show_file "$IMAPFRONT_LOG"
    show_file "$ACCESS_LOG" 20
    show_file "$(dovecot_log_path "$WORK")" 40
  fi
  if [[ "${IMAPFRONT_E2E_KEEP:-0}" == 1 ]]; then
    echo "dovecot_e2e: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# now_ms: wall-clock milliseconds, for loops bounded in time as well as count.
now_ms() {
  local t="${EPOCHREALTIME/[.,]/}"
  echo "$((t / 1000))"
}

# pick_ports N: print N distinct free TCP ports on 127.0.0.1.
pick_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

# http_get PATH: print the body of http://127.0.0.1:$STATS_PORT/PATH; fail
# (non-zero) on connection errors or a status other than 200.
http_get() {
  python3 - "http://127.0.0.1:$STATS_PORT$1" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.stdout.write(r.read().decode())
EOF
}

read -r BACKEND_PORT IMAPS_PORT STATS_PORT STARTTLS_PORT LOGIN_PORT HAPROXY_BACKEND_PORT \
  EDGE_PORT EDGE_ID_PORT < <(pick_ports 8)
info "work dir $WORK; ports: dovecot $BACKEND_PORT, imaps $IMAPS_PORT, stats $STATS_PORT," \
  "starttls $STARTTLS_PORT"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 2 \
  -keyout "$KEY" -out "$CERT" -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -addext basicConstraints=critical,CA:FALSE \
  -addext keyUsage=critical,digitalSignature \
  -addext extendedKeyUsage=serverAuth >"$WORK/openssl.log" 2>&1 ||
  fail "openssl could not make a certificate: $(cat "$WORK/openssl.log")"

# A second Dovecot listener that takes a PROXY header (forward_client
# proxy_v2), and trust in imapfront's ID (forward_client id).
DOVECOT_EXTRA="haproxy_trusted_networks = 127.0.0.1/32
login_trusted_networks = 127.0.0.1/32
service imap-login {
  inet_listener imap-haproxy {
    address = 127.0.0.1
    port = $HAPROXY_BACKEND_PORT
    haproxy = yes
  }
}"
dovecot_write_config "$WORK" "$BACKEND_PORT" "imapfront-e2e-$$" "$DOVECOT_EXTRA" ||
  fail "could not write the Dovecot config"
dovecot_start "$WORK" 10 || fail "Dovecot did not start"
info "dovecot is up on 127.0.0.1:$BACKEND_PORT"

imapfront_write_config "$CONFIG" "$IMAPS_PORT" "$STATS_PORT" "$BACKEND_PORT" "$CERT" "$KEY" \
  "$ACCESS_LOG" "$STARTTLS_PORT"
# And a listener where imapfront logs users in itself (login: "proxy").
# And two listeners behind a (pretend) balancer: PROXY headers from
# 127.0.0.1; the client's address goes on to Dovecot as a PROXY v2 header
# or as an ID command. The default route's backend is health checked.
python3 - "$CONFIG" "$LOGIN_PORT" "$EDGE_PORT" "$EDGE_ID_PORT" "$HAPROXY_BACKEND_PORT" \
  "$BACKEND_PORT" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
login, edge, edge_id, haproxy_backend, backend = sys.argv[2:7]
c["listeners"].append({"name": "login", "listen": f"127.0.0.1:{login}",
                       "mode": "implicit_tls", "login": "proxy"})
c["limits"]["auth_failure_delay"] = 0
c["trusted_proxies"] = ["127.0.0.1/32"]
c["listeners"].append({"name": "edge", "listen": f"127.0.0.1:{edge}", "proxy_protocol": True})
c["listeners"].append({"name": "edge-id", "listen": f"127.0.0.1:{edge_id}",
                       "proxy_protocol": True})
c["routes"][0]["health_check"] = {"interval": 0.5, "timeout": 2}
c["routes"] = [
    {"name": "edge", "listeners": ["edge"], "backends": [f"127.0.0.1:{haproxy_backend}"],
     "forward_client": "proxy_v2"},
    {"name": "edge-id", "listeners": ["edge-id"], "backends": [f"127.0.0.1:{backend}"],
     "forward_client": "id"},
] + c["routes"]
json.dump(c, open(sys.argv[1], "w"), indent=2)
EOF

out="$(timeout 10 "$IMAPFRONT" --check-config "$CONFIG" 2>&1)" ||
  fail "imapfront --check-config $CONFIG failed: $out"
[[ "$out" == *"config ok"* ]] || fail "imapfront --check-config did not print 'config ok': $out"
info "check-config: $out"

"$IMAPFRONT" --config "$CONFIG" </dev/null >"$IMAPFRONT_LOG" 2>&1 &
IMAPFRONT_PID=$!

healthy=0
deadline=$(($(now_ms) + 10000))
for ((i = 0; i < 200 && $(now_ms) < deadline; i++)); do
  if ! kill -0 "$IMAPFRONT_PID" 2>/dev/null; then
    rc=0
    wait "$IMAPFRONT_PID" || rc=$?
    IMAPFRONT_PID=""
    fail "imapfront exited with status $rc during startup"
  fi
  if [[ "$(http_get /healthz 2>/dev/null || true)" == ok* ]]; then
    healthy=1
    break
  fi
  sleep 0.1
done
((healthy)) || fail "imapfront did not answer /healthz with 'ok' on 127.0.0.1:$STATS_PORT within 10 s"
info "imapfront (pid $IMAPFRONT_PID) is healthy"

info "running deploy/demo_client.py through imapfront (IMAPS)"
timeout 60 python3 "$REPO_ROOT/deploy/demo_client.py" --host 127.0.0.1 --port "$IMAPS_PORT" \
  --cafile "$CERT" --user "$DOVECOT_USER" --password "$DOVECOT_PASSWORD" ||
  fail "the IMAP round trip through imapfront failed"

info "the same through the login listener: imapfront logs the user in at Dovecot"
timeout 60 python3 "$REPO_ROOT/deploy/demo_client.py" --host 127.0.0.1 --port "$LOGIN_PORT" \
  --cafile "$CERT" --user "$DOVECOT_USER" --password "$DOVECOT_PASSWORD" --size 20000 ||
  fail "the IMAP round trip through the login listener failed"
login_check="$(timeout 30 python3 - "$LOGIN_PORT" "$CERT" "$DOVECOT_USER" "$DOVECOT_PASSWORD" <<'EOF' 2>&1
import imaplib, ssl, sys
port, cafile, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ssl.create_default_context(cafile=cafile))
try:
    m.login(user, password + "-wrong")
    sys.exit("a wrong password was accepted")
except imaplib.IMAP4.error as e:
    if "[AUTHENTICATIONFAILED] Authentication failed" not in str(e):
        sys.exit(f"unexpected refusal: {e}")
# SASL PLAIN, after the failure, on the same connection.
typ, data = m.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())
if typ != "OK" or b"CAPABILITY" not in data[0]:
    sys.exit(f"AUTHENTICATE PLAIN: {typ} {data}")
typ, data = m.select("INBOX")
if typ != "OK":
    sys.exit(f"SELECT: {typ} {data}")
m.logout()
print("login listener: wrong password refused, AUTHENTICATE PLAIN accepted, INBOX selected")
EOF
)" || fail "imaplib through the login listener: $login_check"
info "$login_check"
if command -v curl >/dev/null 2>&1; then
  listing="$(timeout 30 curl -sS --cacert "$CERT" "imaps://127.0.0.1:$LOGIN_PORT/" \
    -u "$DOVECOT_USER:$DOVECOT_PASSWORD" 2>&1)" || fail "curl through the login listener failed: $listing"
  [[ "$listing" == *INBOX* ]] || fail "curl through the login listener did not list INBOX: $listing"
  info "curl listed the mailboxes through the login listener"
fi
if grep -q -- "$DOVECOT_PASSWORD-wrong" "$IMAPFRONT_LOG" "$ACCESS_LOG"; then
  fail "a password is in imapfront's logs"
fi

info "behind a balancer: a PROXY header names the client; Dovecot learns it from imapfront"
edge_check="$(timeout 30 python3 - "$EDGE_PORT" "$EDGE_ID_PORT" "$CERT" "$DOVECOT_USER" \
  "$DOVECOT_PASSWORD" <<'EOF' 2>&1
import imaplib, socket, ssl, sys
edge, edge_id, cafile, user, password = sys.argv[1:6]

def session(port, client_ip):
    class Behind(imaplib.IMAP4_SSL):
        def _create_socket(self, timeout):
            sock = socket.create_connection((self.host, self.port), timeout)
            sock.sendall(f"PROXY TCP4 {client_ip} 127.0.0.1 40000 993\r\n".encode())
            return self.ssl_context.wrap_socket(sock, server_hostname=self.host)
    m = Behind("127.0.0.1", int(port), ssl_context=ssl.create_default_context(cafile=cafile))
    m.login(user, password)
    typ, data = m.select("INBOX")
    if typ != "OK":
        sys.exit(f"SELECT through {port}: {typ} {data}")
    m.logout()

session(edge, "192.0.2.77")
session(edge_id, "192.0.2.78")
print("logged in behind the balancer as 192.0.2.77 (proxy_v2) and 192.0.2.78 (id)")
EOF
)" || fail "imaplib behind a PROXY header: $edge_check"
info "$edge_check"
DOVECOT_LOG="$(dovecot_log_path "$WORK")"
for ip in 192.0.2.77 192.0.2.78; do
  wait_ms=$(($(now_ms) + 5000))
  until grep -q "Login: user=<$DOVECOT_USER>.*rip=$ip" "$DOVECOT_LOG" 2>/dev/null; do
    (($(now_ms) < wait_ms)) || fail "Dovecot did not log the login from rip=$ip: $(tail -5 "$DOVECOT_LOG")"
    sleep 0.1
  done
  grep -q "\"client\":\"$ip:40000\"" "$ACCESS_LOG" ||
    fail "the access log does not name client $ip:40000"
done
info "Dovecot logged rip=192.0.2.77 and rip=192.0.2.78; so did imapfront's access log"
backends="$(http_get /stats | python3 -c '
import json, sys
b = json.load(sys.stdin)["backends"]
d = b.get("default/127.0.0.1:" + sys.argv[1], {})
print(b)
sys.exit(0 if d.get("up") is True and d.get("checks_failed") == 0 else 1)' "$BACKEND_PORT")" ||
  fail "the health-checked Dovecot is not up in /stats backends: $backends"
info "health checks: the default route's Dovecot is up ($backends)"

if command -v curl >/dev/null 2>&1; then
  info "listing mailboxes with curl over STARTTLS (--ssl-reqd)"
  listing="$(timeout 30 curl -sS --ssl-reqd --cacert "$CERT" \
    "imap://127.0.0.1:$STARTTLS_PORT/" -u "$DOVECOT_USER:$DOVECOT_PASSWORD" 2>&1)" ||
    fail "curl over STARTTLS failed: $listing"
  [[ "$listing" == *INBOX* ]] || fail "curl over STARTTLS did not list INBOX: $listing"
fi

# The client has logged out; wait (bounded) for imapfront to close the session.
stats=""
deadline=$(($(now_ms) + 5000))
for ((i = 0; i < 100 && $(now_ms) < deadline; i++)); do
  stats="$(http_get /stats)" || fail "GET /stats failed"
  if python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["connections"]["active"] != 0)' \
    <<<"$stats" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
info "stats: $stats"

# Accounting: accepted >= 1, active == 0 and accepted == active +
# sum(closed), in total and per route; bytes relayed both ways.
FAILURES=()

check_out="$(python3 - "$stats" <<'EOF'
import json, sys
try:
    s = json.loads(sys.argv[1])
except ValueError as e:
    print(f"accounting: /stats is not JSON: {e}")
    sys.exit(0)

def accounting(name, node):
    conn = node.get("connections", node)  # routes carry accepted/active directly
    accepted, active = conn.get("accepted"), conn.get("active")
    closed = node.get("closed", {})
    if not isinstance(accepted, int) or not isinstance(active, int):
        print(f"accounting: {name}: accepted/active missing")
        return
    if accepted < 1:
        print(f"accounting: {name}: accepted is {accepted}, expected >= 1")
    if active != 0:
        print(f"accounting: {name}: active is {active} after the client logged out, expected 0")
    total = sum(closed.values())
    if accepted != active + total:
        print(f"accounting: {name}: accepted ({accepted}) != active ({active}) + sum(closed) ({total})")

try:
    accounting("total", s)
    routes = s.get("routes", {})
    if "default" not in routes:
        print(f"accounting: no route 'default' in routes: {list(routes)}")
    for name, node in routes.items():
        accounting(f"routes.{name}", node)
    relayed = s.get("bytes", {})
    for direction in ("client_to_backend", "backend_to_client"):
        if not relayed.get(direction, 0) > 0:
            print(f"accounting: bytes.{direction} is {relayed.get(direction)}, expected > 0")
except (AttributeError, TypeError) as e:
    print(f"accounting: unexpected /stats shape: {e}")
EOF
)" || FAILURES+=("could not check /stats")
while IFS= read -r line; do
  case "$line" in
    accounting:*) FAILURES+=("stats ${line#accounting: }") ;;
  esac
done <<<"$check_out"
if ! grep -q '^accounting:' <<<"$check_out"; then
  info "stats add up: every accepted connection is active or closed with one reason"
fi

info "stopping imapfront with SIGTERM"
stop_pid "$IMAPFRONT_PID" 10
IMAPFRONT_PID=""
if ((STOP_RC == 0)); then
  info "imapfront exited with status 0"
else
  FAILURES+=("imapfront exited with status $STOP_RC after SIGTERM, expected 0")
fi

if ((${#FAILURES[@]})); then
  for f in "${FAILURES[@]}"; do
    echo "dovecot_e2e: FAIL: $f" >&2
  done
  exit 1
fi
info "PASS"
