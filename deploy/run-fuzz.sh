#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each for a
# bounded time (default 60 s) from the seed corpus in tests/fuzz/corpus.
#
#   deploy/run-fuzz.sh [SECONDS]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
seconds="${1:-60}"

"$REPO_ROOT/deploy/install-deps.sh"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
if [[ ! -f build-fuzz/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMAPFRONT_FUZZ=ON -DIMAPFRONT_WERROR=OFF
fi
cmake --build build-fuzz --target fuzz_command_framer fuzz_response_framer fuzz_conversation -j"$(nproc)"

for target in command_framer response_framer conversation; do
  work="$(mktemp -d)"
  cp tests/fuzz/corpus/"${target%_framer}"/* "$work"/
  echo "run-fuzz: fuzz_${target} for ${seconds}s"
  build-fuzz/tests/fuzz_"$target" -max_total_time="$seconds" -timeout=10 \
    -max_len=4096 -print_final_stats=1 "$work" 2>&1 | tail -n 12
  rm -rf "$work"
done
echo "run-fuzz: done, no crash"
