#!/usr/bin/env bash
# Builds the image of deploy/container/Dockerfile with buildah and runs it,
# on a machine whose container runtime cannot start containers (no cgroups,
# no rlimits: buildah's chroot isolation needs neither) and that may reach
# no registry (the base image is then made with debootstrap). As root.
#
#   deploy/container/check-image.sh [WORKDIR]
#
# The image's own files are used as built; what `docker run -v` would mount
# is mounted the same way: a config (the image's, with its ports moved by
# 20000, so that a running quickstart does not collide, and a private
# Dovecot on 127.0.0.1:BACKEND_PORT, default 24300, as backend) and a
# certificate. Then, as the image's user: /healthz through the HEALTHCHECK's
# command, deploy/demo_client.py appending and fetching a message through
# it, SIGTERM and exit status 0.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="${1:-/var/tmp/imapfront-image}"
IMAGE=localhost/imapfront:check
BASE=docker.io/library/debian:12-slim
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
BACKEND_PORT="${BACKEND_PORT:-24300}"
# shellcheck source=deploy/lib-dovecot.sh
source "$REPO_ROOT/deploy/lib-dovecot.sh"
die() {
  echo "check-image: FAIL: $*" >&2
  exit 1
}
step() { echo "check-image: $*"; }
[[ "$(id -u)" -eq 0 ]] || die "run as root"
command -v buildah >/dev/null || apt-get install -y -q buildah >/dev/null
mkdir -p "$WORK"

if ! buildah inspect --type image "$BASE" >/dev/null 2>&1 &&
  ! timeout 60 buildah pull -q "$BASE" >/dev/null 2>&1; then
  step "no registry: $BASE from debootstrap (bookworm minbase)"
  command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
  base="$(buildah from scratch)"
  root="$(buildah mount "$base")"
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$WORK/debootstrap.log"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  buildah umount "$base" >/dev/null
  buildah commit -q "$base" "$BASE" >/dev/null
  buildah rm "$base" >/dev/null
fi

step "buildah bud (chroot isolation) -f deploy/container/Dockerfile"
(cd "$REPO_ROOT" && buildah bud --isolation chroot --pull=false --format docker \
  -f deploy/container/Dockerfile -t "$IMAGE" . >"$WORK/build.log" 2>&1) ||
  { tail -20 "$WORK/build.log"; die "the image did not build (log: $WORK/build.log)"; }
user="$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")"
[[ "$user" == 10993:10993 ]] || die "the image runs as '$user', not 10993:10993"
healthcheck="$(buildah inspect --type image --format '{{index .Docker.Config.Healthcheck.Test 3}}' "$IMAGE")"
[[ "$healthcheck" == *"/dev/tcp/127.0.0.1/9100"* ]] || die "unexpected HEALTHCHECK: $healthcheck"

step "a private Dovecot on 127.0.0.1:$BACKEND_PORT as the backend"
rm -rf "$WORK/backend"
dovecot_write_config "$WORK/backend" "$BACKEND_PORT" "imapfront-image-check" ||
  die "cannot write the Dovecot config"
dovecot_start "$WORK/backend" 10 || die "Dovecot did not start"

step "run it: config and certificate mounted"
mounts="$WORK/mounts"
rm -rf "$mounts" && install -d -m 0750 -o root -g 10993 "$mounts" "$mounts/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$mounts/tls/tls.key" -out "$mounts/tls/tls.crt" 2>/dev/null
chgrp 10993 "$mounts/tls/tls.key" && chmod 0640 "$mounts/tls/tls.key"
sed -e 's/:9993"/:29993"/; s/:9143"/:29143"/; s/:9100"/:29100"/' \
  -e "s/imap-backend.mail.svc:143/127.0.0.1:$BACKEND_PORT/" \
  "$REPO_ROOT/deploy/container/imapfront.json" >"$mounts/imapfront.json"
chgrp 10993 "$mounts/imapfront.json" && chmod 0640 "$mounts/imapfront.json"
ctr="$(buildah from --pull=false "$IMAGE")"
cleanup() {
  pkill -KILL -u 10993 -x imapfront 2>/dev/null || true
  buildah rm "$ctr" >/dev/null 2>&1 || true
  dovecot_stop "$WORK/backend" 5 || true
}
trap cleanup EXIT
run_in() {
  buildah run --isolation chroot --user 10993:10993 \
    -v "$mounts/imapfront.json:/etc/imapfront/imapfront.json:ro" \
    -v "$mounts/tls:/etc/imapfront/tls:ro" "$ctr" -- "$@"
}
# The image's ENTRYPOINT and CMD (buildah run does not apply them).
entrypoint="$(buildah inspect --type image --format '{{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}}' "$IMAGE")"
[[ "$entrypoint" == '[/usr/bin/imapfront] [--config /etc/imapfront/imapfront.json]' ]] ||
  die "unexpected ENTRYPOINT/CMD: $entrypoint"
run_in /usr/bin/imapfront --check-config /etc/imapfront/imapfront.json
run_in /usr/bin/imapfront --config /etc/imapfront/imapfront.json 2>"$WORK/imapfront.log" &
runner=$!
ok=0
for _ in $(seq 50); do
  if run_in /bin/bash -c "${healthcheck//9100/29100}" 2>/dev/null; then
    ok=1
    break
  fi
  sleep 0.2
done
((ok)) || die "the HEALTHCHECK command never passed: $(cat "$WORK/imapfront.log")"
step "HEALTHCHECK command passes"
python3 "$REPO_ROOT/deploy/demo_client.py" --host 127.0.0.1 --port 29993 \
  --cafile "$mounts/tls/tls.crt" || die "the demo client failed through the image"
pid="$(pgrep -u 10993 -x imapfront)" || die "no imapfront process of uid 10993"
kill -TERM "$pid"
rc=0
wait "$runner" || rc=$?
((rc == 0)) || die "SIGTERM: exit status $rc"
step "ok: $IMAGE built, ran as 10993 with mounts, passed its HEALTHCHECK and the demo client, exited 0 on SIGTERM"
