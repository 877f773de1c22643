#!/usr/bin/env bash
# Installs what the build and tests need, builds with a preset of
# CMakePresets.json, and runs every test through ctest.
#
#   deploy/run-tests.sh              # preset default: build/ (RelWithDebInfo, -Werror)
#   deploy/run-tests.sh --sanitize   # preset asan: build-asan/ (ASan + UBSan, leaks included)
#   deploy/run-tests.sh --tsan       # preset tsan: build-tsan/ (ThreadSanitizer)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

case "${1:-}" in
  "") preset=default build_dir=build ;;
  --sanitize) preset=asan build_dir=build-asan ;;
  --tsan) preset=tsan build_dir=build-tsan ;;
  *)
    echo "usage: $0 [--sanitize | --tsan]" >&2
    exit 1
    ;;
esac

"$REPO_ROOT/deploy/install-deps.sh"

# Configure every time (cheap; refreshes the git version). The generator is
# chosen once, when the build directory is new.
generator=()
if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi
cmake --preset "$preset" "${generator[@]}"
cmake --build --preset "$preset" -j"$(nproc)"

# Sanitizers: fail on the first report, leaks included. A TSan report makes
# the process exit 66; the e2e tests require imapfront to exit 0.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:exitcode=66}"

run=()
if [[ "$preset" == tsan ]]; then
  # TSan's shadow memory layout fails ("unexpected memory mapping") when the
  # kernel randomizes mmap with more than 28 bits. In CI (as root) lower the
  # entropy; elsewhere run without address randomization (inherited by the
  # imapfront processes the e2e tests start).
  bits="$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)"
  if ((bits > 28)); then
    if [[ "${CI:-}" == true && "$(id -u)" -eq 0 ]] &&
      sysctl -w vm.mmap_rnd_bits=28 >/dev/null 2>&1; then
      echo "run-tests: vm.mmap_rnd_bits lowered from $bits to 28 for TSan"
    elif setarch "$(uname -m)" -R true 2>/dev/null; then
      run=(setarch "$(uname -m)" -R)
      echo "run-tests: vm.mmap_rnd_bits=$bits; running TSan tests under setarch -R"
    else
      echo "run-tests: warning: vm.mmap_rnd_bits=$bits may break TSan" \
        "(sysctl -w vm.mmap_rnd_bits=28 as root)" >&2
    fi
  fi
fi
"${run[@]}" ctest --test-dir "$build_dir" --output-on-failure --timeout 300
