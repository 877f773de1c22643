#!/usr/bin/env bash
# Install what building, testing and demonstrating imapfront needs on
# Debian 12 (bookworm). Idempotent: when everything is installed already it
# changes nothing and does not touch the network.
#
#   deploy/install-deps.sh               everything (build, tests, demo, CI)
#   deploy/install-deps.sh --build-only  only what building imapfront needs
#                                        (deploy/container/Dockerfile)
#
# Runs apt-get as root, through sudo when not root. Dovecot is installed only
# as a test/demo backend: the package's own system service is not started by
# this script (see below), and the demo runs a private instance instead.
set -euo pipefail

# What `cmake -DBUILD_TESTING=OFF && cmake --build` needs (--build-only).
BUILD_PACKAGES=(
  build-essential cmake pkg-config ninja-build
  libuv1-dev android-libboringssl-dev nlohmann-json3-dev
  libhttp-parser-dev libcli11-dev libsystemd-dev
  scdoc # the man pages (deploy/man/*.scd)
)
PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  doctest-dev
  dovecot-imapd
  python3 curl ca-certificates openssl
  prometheus python3-prometheus-client # /metrics checked by promtool and a real parser
  clang libclang-rt-14-dev # fuzz targets (libFuzzer), deploy/run-fuzz.sh
  clang-format             # deploy/check-format.sh (CI)
  dpkg-dev lintian fakeroot # the .deb (cpack) and its checks, deploy/package-test.sh
  testssl.sh                # the TLS policy scan, deploy/testssl.sh
  python3-yaml              # deploy/kubernetes manifests parsed by a test
  buildah debootstrap       # the container image built and run, deploy/container/check-image.sh
)

POLICY_RC=/usr/sbin/policy-rc.d

die() {
  echo "install-deps: error: $*" >&2
  exit 1
}

SUDO=()

# missing_packages: print the packages of PACKAGES that are not installed.
missing_packages() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == installed ]] || printf '%s\n' "$pkg"
  done
}

# While apt-get runs, deny service starts through policy-rc.d (the mechanism
# invoke-rc.d and deb-systemd-invoke honour), so that installing
# dovecot-imapd does not start a system Dovecot on ports 143/993. An existing
# policy-rc.d (e.g. Docker's "exit 101") is left alone.
OWN_POLICY_RC=0
remove_policy_rc() {
  if ((OWN_POLICY_RC)); then
    "${SUDO[@]}" rm -f "$POLICY_RC" || true
  fi
}
install_policy_rc() {
  [[ -e "$POLICY_RC" ]] && return 0
  trap remove_policy_rc EXIT
  printf '#!/bin/sh\n# Temporary, from imapfront deploy/install-deps.sh\nexit 101\n' |
    "${SUDO[@]}" tee "$POLICY_RC" >/dev/null
  "${SUDO[@]}" chmod 0755 "$POLICY_RC"
  OWN_POLICY_RC=1
}

main() {
  case "${1:-}" in
    "") ;;
    --build-only) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
    -h | --help)
      echo "usage: $0 [--build-only]"
      return 0
      ;;
    *) die "unknown argument: $1 (usage: $0 [--build-only])" ;;
  esac
  (($# <= 1)) || die "too many arguments (usage: $0 [--build-only])"

  local tool
  for tool in apt-get dpkg-query; do
    command -v "$tool" >/dev/null 2>&1 ||
      die "$tool not found: this script supports Debian 12 (bookworm) and derivatives"
  done

  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#PACKAGES[@]} packages are installed already"
    return 0
  fi
  echo "install-deps: installing ${missing[*]}"
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 ||
      die "not root and sudo is not installed; run this script as root"
    SUDO=(sudo)
  fi

  install_policy_rc
  "${SUDO[@]}" apt-get update ||
    die "apt-get update failed (network or /etc/apt/sources.list problem?)"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"

  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) || die "still not installed after apt-get: ${missing[*]}"

  echo "install-deps: done"
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    if systemctl is-enabled --quiet dovecot.service 2>/dev/null; then
      echo "install-deps: note: the system dovecot.service is enabled and would listen on 143/993" \
        "at the next boot; imapfront's demo and tests do not need it (systemctl disable --now dovecot)"
    fi
  fi
}

main "$@"
