#!/usr/bin/env bash
# Scans imapfront's TLS policy with testssl.sh (Debian's, 3.0.x) on both
# kinds of listener, implicit TLS and STARTTLS, with the default TLS settings
# (no tls.min_version, no cipher options: there are none). Fails on any
# finding at LOW or above except those about the test certificate itself
# (ids cert_*, and DNS_CAArecord: a CAA record for the certificate's name),
# which a self-signed certificate for 127.0.0.1 cannot pass.
#
#   deploy/testssl.sh [BINARY]     (default build/imapfront; build it first)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$REPO_ROOT/build/imapfront}"
WORK="$(mktemp -d /tmp/imapfront-testssl.XXXXXX)"
IMAPS_PORT="${IMAPS_PORT:-19993}"
STARTTLS_PORT="${STARTTLS_PORT:-19143}"
STATS_PORT="${STATS_PORT:-19100}"
BACKEND_PORT="${BACKEND_PORT:-19144}"

die() {
  echo "testssl: FAIL: $*" >&2
  exit 1
}
[[ -x "$BIN" ]] || die "$BIN is not built"
command -v testssl >/dev/null || die "testssl is not installed (deploy/install-deps.sh)"

pid=""
backend_pid=""
# (Each wait returns the killed process's status: never let it be the trap's.)
cleanup() {
  local p
  for p in "$pid" "$backend_pid"; do
    if [[ -n "$p" ]]; then
      kill "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT

# An RSA certificate, as most operators have, and a backend that greets
# (STARTTLS sessions are relayed to it once TLS is up).
openssl req -x509 -newkey rsa:2048 -noenc -days 30 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
python3 - "$BACKEND_PORT" >"$WORK/backend.log" 2>&1 <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
def serve(c):
    with c:
        c.sendall(b"* OK [CAPABILITY IMAP4rev1] scan backend\r\n")
        while c.recv(4096):
            pass
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
backend_pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$BACKEND_PORT") 2>/dev/null && break
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$BACKEND_PORT") 2>/dev/null ||
  die "the scan backend did not listen on $BACKEND_PORT: $(cat "$WORK/backend.log")"
cat >"$WORK/imapfront.json" <<JSON
{
  "stats": {"listen": "127.0.0.1:$STATS_PORT"},
  "log": {"level": "warn", "access_log": "$WORK/access.log"},
  "tls": {"certificates": [{"cert": "$WORK/cert.pem", "key": "$WORK/key.pem"}]},
  "listeners": [
    {"name": "imaps", "listen": "127.0.0.1:$IMAPS_PORT", "mode": "implicit_tls"},
    {"name": "imap", "listen": "127.0.0.1:$STARTTLS_PORT", "mode": "starttls"}
  ],
  "routes": [{"name": "default", "backends": ["127.0.0.1:$BACKEND_PORT"]}]
}
JSON
"$BIN" --config "$WORK/imapfront.json" 2>"$WORK/imapfront.log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$STATS_PORT/healthz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$STATS_PORT/healthz" >/dev/null || die "imapfront did not start: $(cat "$WORK/imapfront.log")"

failed=0
scan() {
  local name="$1"
  shift
  local json="$WORK/$name.json"
  echo "testssl: scanning $name ($*)"
  # testssl's exit code counts findings, certificate ones included: the JSON decides.
  timeout 300 testssl --quiet --color 0 --warnings off --jsonfile "$json" "$@" \
    >"$WORK/$name.txt" 2>&1 || true
  [[ -s "$json" ]] || die "testssl wrote no findings for $name: $(tail -5 "$WORK/$name.txt")"
  python3 - "$json" "$name" <<'PY' || failed=1
import json, sys
findings = json.load(open(sys.argv[1]))
ranked = {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
certificate = lambda f: f["id"].startswith("cert_") or f["id"] == "DNS_CAArecord"
bad = [f for f in findings if f["severity"] in ranked and not certificate(f)]
# A scan that could not run (refused, STARTTLS failed) still writes JSON:
# its own problems fail, and the checks that matter must be there.
bad += [f for f in findings if f["id"] == "scanProblem" or f["severity"] == "FATAL"]
ids = {f["id"] for f in findings}
for want in ("TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cipher_order", "cipherorder_TLSv1_2", "PFS",
             "heartbleed", "ROBOT"):
    if want not in ids:
        bad.append({"severity": "MISSING", "id": want, "finding": "testssl did not report it"})
skipped = [f for f in findings if f["severity"] in ranked and certificate(f)]
checked = sum(1 for f in findings if f["severity"] not in ("DEBUG",))
for f in bad:
    print(f"testssl: {sys.argv[2]}: {f['severity']} {f['id']}: {f['finding']}")
print(f"testssl: {sys.argv[2]}: {checked} findings, {len(bad)} at LOW or above, "
      f"{len(skipped)} about the test certificate ({', '.join(sorted({f['id'] for f in skipped}))})")
sys.exit(1 if bad else 0)
PY
}
start=$SECONDS
scan implicit_tls "127.0.0.1:$IMAPS_PORT"
scan starttls -t imap "127.0.0.1:$STARTTLS_PORT"
echo "testssl: both scans took $((SECONDS - start)) s (output in $WORK)"
((failed == 0)) || die "findings at LOW or above (see above)"
echo "testssl: ok: no finding at LOW or above on either listener, certificate findings aside"
