#!/usr/bin/env bash
# Builds the .deb (preset "package": Release, prefix /usr) with cpack, checks
# it with lintian (no error), installs it on this machine with apt-get (which
# pulls its dependencies), checks what the install made, and removes and
# purges it, checking that nothing is left. As root (CI); it changes the
# machine's packages, so it refuses to run where imapfront is installed
# already unless --replace is given (or CI=true: a CI machine's earlier run
# may have been cut short after the install). A failure after the install
# purges the package again.
#
#   deploy/package-test.sh [--replace]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

die() {
  echo "package-test: FAIL: $*" >&2
  exit 1
}
step() { echo "package-test: $*"; }

[[ "$(id -u)" -eq 0 ]] || die "run as root (it installs and removes the package)"
installed() { dpkg-query -W -f='${db:Status-Status}' imapfront 2>/dev/null | grep -qx installed; }
if installed; then
  [[ "${1:-}" == --replace || "${CI:-}" == true ]] ||
    die "imapfront is installed on this machine; --replace to replace it"
  step "purging the imapfront installed already"
  dpkg -P imapfront >/dev/null
fi

"$REPO_ROOT/deploy/install-deps.sh"

step "build (preset package) and cpack"
cmake --preset package >/dev/null
cmake --build --preset package -j"$(nproc)" >/dev/null
rm -f build-package/imapfront_*.deb
(cd build-package && cpack -G DEB >/dev/null)
deb="$(ls build-package/imapfront_*.deb)"
[[ -f "$deb" ]] || die "cpack made no .deb"
step "built $deb"
dpkg-deb -I "$deb" | sed -n 's/^ \(Version\|Depends\):/  \1:/p'

step "lintian (errors fail)"
lintian --fail-on error --display-info --allow-root "$deb" || die "lintian reported errors"

purge_on_failure() {
  local rc=$?
  if ((rc != 0)) && dpkg-query -W imapfront >/dev/null 2>&1; then
    echo "package-test: purging after the failure" >&2
    dpkg -P imapfront >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap purge_on_failure EXIT

step "install with apt-get"
apt-get install -y -q "./$deb" >/tmp/imapfront-package-install.log 2>&1 ||
  { cat /tmp/imapfront-package-install.log; die "apt-get install failed"; }

step "check the installation"
[[ "$(command -v imapfront)" == /usr/bin/imapfront ]] || die "imapfront is not /usr/bin/imapfront"
/usr/bin/imapfront --version | grep -q '^imapfront ' || die "--version"
/usr/bin/imapfront --help | grep -q -- '--check-config' || die "--help"
getent passwd imapfront >/dev/null || die "no imapfront user"
id -nG imapfront | tr ' ' '\n' | grep -qx ssl-cert || die "imapfront is not in group ssl-cert"
[[ "$(stat -c '%U:%G %a' /etc/imapfront)" == "root:imapfront 750" ]] ||
  die "/etc/imapfront is $(stat -c '%U:%G %a' /etc/imapfront), not root:imapfront 750"
[[ ! -e /etc/imapfront/imapfront.json ]] || die "the package must not ship a live config"
for f in /etc/imapfront/imapfront.json.example /usr/share/doc/imapfront/examples/imapfront.json \
  /lib/systemd/system/imapfront.service /etc/logrotate.d/imapfront \
  /usr/share/man/man8/imapfront.8.gz /usr/share/man/man5/imapfront.json.5.gz \
  /usr/share/doc/imapfront/copyright /usr/share/doc/imapfront/changelog.gz; do
  [[ -f "$f" ]] || die "$f missing"
done
grep -q '^ConditionPathExists=/etc/imapfront/imapfront.json$' /lib/systemd/system/imapfront.service ||
  die "the unit would start without a config"
grep -q '^ExecStart=/usr/bin/imapfront --config /etc/imapfront/imapfront.json$' \
  /lib/systemd/system/imapfront.service || die "the unit's ExecStart"
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify /lib/systemd/system/imapfront.service 2>&1 | grep -v '^$' || true
fi
# The shipped example, as root and as the service user (who must be able to
# read the snakeoil key through group ssl-cert).
/usr/bin/imapfront --check-config /etc/imapfront/imapfront.json.example ||
  die "--check-config on the shipped example"
runuser -u imapfront -- /usr/bin/imapfront --check-config /etc/imapfront/imapfront.json.example ||
  die "--check-config on the shipped example as user imapfront"
# (grep -q on a pipe would end zcat with SIGPIPE under pipefail)
page="$(zcat /usr/share/man/man5/imapfront.json.5.gz | sed 's/\\&//g')"
grep -qF 'tls.certificates[].ocsp' <<<"$page" || die "imapfront.json(5) lacks tls.certificates[].ocsp"

step "remove (conffiles stay), then purge (nothing stays)"
listed="$(dpkg -L imapfront)"
dpkg -r imapfront >/dev/null
[[ ! -e /usr/bin/imapfront ]] || die "dpkg -r left /usr/bin/imapfront"
[[ -f /etc/imapfront/imapfront.json.example ]] || die "dpkg -r removed a conffile"
dpkg -P imapfront >/dev/null
while IFS= read -r path; do
  [[ -z "$path" || "$path" == / || -d "$path" ]] && continue
  [[ ! -e "$path" ]] || die "purge left $path"
done <<<"$listed"
[[ ! -e /etc/imapfront ]] || die "purge left /etc/imapfront"
[[ ! -e /etc/systemd/system/multi-user.target.wants/imapfront.service ]] ||
  die "purge left the unit enabled"
step "ok: $deb builds, passes lintian, installs, checks its example, removes cleanly"
