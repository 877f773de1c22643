#!/usr/bin/env bash
# Installs what the build and tests need, builds, and runs every test through
# ctest. With --sanitize, builds in build-asan/ with AddressSanitizer and
# UndefinedBehaviorSanitizer instead.
#
#   deploy/run-tests.sh              # build/ and ctest
#   deploy/run-tests.sh --sanitize   # build-asan/ and ctest
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

build_dir=build
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
case "${1:-}" in
  "") ;;
  --sanitize)
    build_dir=build-asan
    cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DIMAPFRONT_SANITIZE=ON)
    ;;
  *)
    echo "usage: $0 [--sanitize]" >&2
    exit 1
    ;;
esac

"$REPO_ROOT/deploy/install-deps.sh"

generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" "${generator[@]}" "${cmake_args[@]}"
fi
cmake --build "$build_dir" -j"$(nproc)"

# Sanitizers: fail on the first report, leaks included.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$build_dir" --output-on-failure --timeout 300
