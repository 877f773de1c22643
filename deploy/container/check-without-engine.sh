#!/usr/bin/env bash
# Replays deploy/container/Dockerfile on a machine without a container
# engine (or where one cannot start containers): both stages in Debian 12
# minbase chroots made with debootstrap, then the image's checks. As root.
#
#   deploy/quickstart.sh                          # its Dovecot (127.0.0.1:14300) is the backend
#   deploy/container/check-without-engine.sh [WORKDIR]
#
# Build stage: a clean bookworm, deploy/install-deps.sh --build-only, preset
# "package", `cmake --install` into /staging. Runtime stage: another clean
# bookworm with only the runtime packages, the staged /usr, user 10993, the
# config and a certificate as the mounts would give them. Then, as uid
# 10993: --check-config, the HEALTHCHECK command against /healthz,
# deploy/demo_client.py appending and fetching through it, and SIGTERM
# (exit 0). The container's ports move by 20000 (the demo holds 9993).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="${1:-/var/tmp/imapfront-image}"
BUILD="$WORK/build-root"
RUN="$WORK/runtime-root"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
[[ "$(id -u)" -eq 0 ]] || { echo "run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null

enter() {  # enter ROOT: /proc, /dev and DNS for a chroot
  mountpoint -q "$1/proc" || mount --bind /proc "$1/proc"
  mountpoint -q "$1/dev" || mount --bind /dev "$1/dev"
  cp /etc/resolv.conf "$1/etc/resolv.conf"
}
leave() {
  for root in "$BUILD" "$RUN"; do
    umount "$root/proc" 2>/dev/null || true
    umount "$root/dev" 2>/dev/null || true
  done
}
trap leave EXIT

for root in "$BUILD" "$RUN"; do
  [[ -x "$root/bin/bash" ]] || debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
done

echo "check-without-engine: build stage"
enter "$BUILD"
rm -rf "$BUILD/src" && mkdir -p "$BUILD/src"
(cd "$REPO_ROOT" && git ls-files -z | xargs -0 cp --parents -a -t "$BUILD/src")
chroot "$BUILD" /bin/bash -c 'set -e; cd /src; export DEBIAN_FRONTEND=noninteractive CMAKE_GENERATOR=Ninja
  deploy/install-deps.sh --build-only
  cmake --preset package >/dev/null && cmake --build --preset package -j"$(nproc)" >/dev/null
  rm -rf /staging && DESTDIR=/staging cmake --install build-package >/dev/null
  test -x /staging/usr/bin/imapfront && /staging/usr/bin/imapfront --version'

echo "check-without-engine: runtime stage"
enter "$RUN"
chroot "$RUN" /bin/bash -c 'set -e; apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    libuv1 android-libboringssl libsystemd0 libhttp-parser2.9 ca-certificates >/dev/null
  getent group imapfront >/dev/null || groupadd --gid 10993 imapfront
  getent passwd imapfront >/dev/null || useradd --no-log-init --uid 10993 --gid imapfront \
    --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin imapfront'
cp -a "$BUILD/staging/usr/." "$RUN/usr/"
install -d -m 0750 -o root -g 10993 "$RUN/etc/imapfront" "$RUN/etc/imapfront/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$RUN/etc/imapfront/tls/tls.key" -out "$RUN/etc/imapfront/tls/tls.crt" 2>/dev/null
chgrp 10993 "$RUN/etc/imapfront/tls/tls.key" && chmod 0640 "$RUN/etc/imapfront/tls/tls.key"
sed -e 's/:9993"/:29993"/; s/:9143"/:29143"/; s/:9100"/:29100"/; s/imap-backend.mail.svc:143/127.0.0.1:14300/' \
  "$REPO_ROOT/deploy/container/imapfront.json" >"$RUN/etc/imapfront/imapfront.json"
chgrp 10993 "$RUN/etc/imapfront/imapfront.json" && chmod 0640 "$RUN/etc/imapfront/imapfront.json"

as_image() { chroot --userspec=10993:10993 "$RUN" "$@"; }
as_image /usr/bin/imapfront --check-config /etc/imapfront/imapfront.json
chroot --userspec=10993:10993 "$RUN" /usr/bin/imapfront --config /etc/imapfront/imapfront.json \
  2>"$WORK/imapfront.log" &
pid=$!
sleep 1
as_image /bin/bash -c "exec 3<>/dev/tcp/127.0.0.1/29100 && printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && IFS= read -r -t 2 status <&3 && [[ \$status == 'HTTP/1.1 200 '* ]]"
echo "check-without-engine: HEALTHCHECK ok"
python3 "$REPO_ROOT/deploy/demo_client.py" --host 127.0.0.1 --port 29993 \
  --cafile "$RUN/etc/imapfront/tls/tls.crt"
[[ "$(ps -o uid= -p "$pid" | tr -d ' ')" == 10993 ]] || { echo "not running as 10993" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid"
echo "check-without-engine: ok (SIGTERM: exit 0; log in $WORK/imapfront.log)"
