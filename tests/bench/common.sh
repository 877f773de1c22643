# Shared by side-by-side.sh and scale.sh (sourced after ROOT is set): the
# programs, process control by PID, readiness, and imapfront's benchmark
# config.

BUILD=${BUILD:-$ROOT/build}
IMAPFRONT=${IMAPFRONT:-$BUILD/imapfront}
LG=$BUILD/tests/imapfront_loadgen
SINK=$BUILD/tests/imapfront_sink
for bin in "$IMAPFRONT" "$LG" "$SINK"; do
  [[ -x $bin ]] || { echo "missing $bin: build first (cmake --build build)" >&2; exit 1; }
done

tree_of() {  # pid -> itself and all descendants
  local k
  echo "$1"
  for k in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree_of "$k"; done
}

stop() {  # pid: TERM the tree, KILL what is left after 10 s
  local pids i
  [[ -n $1 ]] || return 0
  pids=$(tree_of "$1")
  kill -TERM $pids 2>/dev/null
  for i in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL $pids 2>/dev/null
  wait "$1" 2>/dev/null
  return 0
}

# wait_ready PID PORT: true once a one-command session through 127.0.0.1:PORT
# succeeds; false if PID exits first or after 15 s.
wait_ready() {
  local i
  for i in $(seq 75); do
    kill -0 "$1" 2>/dev/null || return 1
    "$LG" small -c 1 -k 1 -t 1 --login -p "$2" --timeout 2 >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

# imapfront_config FILE WORKERS CERT KEY LISTEN_PORT SINK_PORT MAX_CONNECTIONS ACCESS_LOG
# imapfront's defaults but for the ports, a long idle timeout and room for
# the bulk literal; the access log written to a file, as in production.
imapfront_config() {
  cat > "$1" <<CONF
{
  "workers": $2,
  "stats": { "listen": null },
  "log": { "level": "warn", "access_log": "$8" },
  "tls": { "certificates": [ { "cert": "$3", "key": "$4" } ] },
  "listeners": [ { "name": "imaps", "listen": "127.0.0.1:$5", "mode": "implicit_tls" } ],
  "routes": [ { "name": "sink", "backends": ["127.0.0.1:$6"] } ],
  "limits": { "max_connections": $7, "idle_timeout": 600, "max_literal_bytes": 4294967296 }
}
CONF
}

# make_cert KIND DIR: DIR/KIND.{crt,key,pem}, KIND ecdsa (P-256) or rsa (2048)
make_cert() {
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  [[ $1 == rsa ]] && key=(-newkey rsa:2048)
  openssl req -x509 "${key[@]}" -nodes -days 30 -subj /CN=localhost \
    -keyout "$2/$1.key" -out "$2/$1.crt" 2>/dev/null
  cat "$2/$1.crt" "$2/$1.key" > "$2/$1.pem"
}
