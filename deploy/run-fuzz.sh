#!/usr/bin/env bash
# Builds the libFuzzer targets with the fuzz preset (clang; build-fuzz/) and
# runs each for a bounded time (default 60 s) from its seed corpus:
# build-fuzz/tests/fuzz_NAME from tests/fuzz/corpus/NAME (empty if missing).
#
#   deploy/run-fuzz.sh [SECONDS]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
seconds="${1:-60}"

"$REPO_ROOT/deploy/install-deps.sh"
generator=()
if [[ ! -f build-fuzz/CMakeCache.txt ]] && command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi
cmake --preset fuzz "${generator[@]}"
cmake --build --preset fuzz -j"$(nproc)"

shopt -s nullglob
targets=(build-fuzz/tests/fuzz_*)
((${#targets[@]} > 0)) || { echo "run-fuzz: no fuzz targets in build-fuzz/tests" >&2; exit 1; }
for target in "${targets[@]}"; do
  [[ -f "$target" && -x "$target" ]] || continue
  name="${target##*/fuzz_}"
  work="$(mktemp -d)"
  if [[ -d tests/fuzz/corpus/$name ]]; then cp -r tests/fuzz/corpus/"$name"/. "$work"/; fi
  echo "run-fuzz: fuzz_${name} for ${seconds}s"
  # pipefail: a crash fails the script even through tail.
  "$target" -max_total_time="$seconds" -timeout=10 -max_len=4096 -print_final_stats=1 \
    "$work" 2>&1 | tail -n 12
  rm -rf "$work"
done
echo "run-fuzz: done, no crash"
