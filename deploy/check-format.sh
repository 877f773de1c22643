#!/usr/bin/env bash
# Checks that the C++ sources are formatted as .clang-format says (CI runs
# this). With --fix, formats them in place instead.
#
#   deploy/check-format.sh          # clang-format --dry-run --Werror
#   deploy/check-format.sh --fix    # clang-format -i
#
# CLANG_FORMAT picks the binary (default: clang-format; Debian 12 has 14,
# installed by deploy/install-deps.sh).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
clang_format="${CLANG_FORMAT:-clang-format}"

mode=(--dry-run --Werror)
case "${1:-}" in
  "") ;;
  --fix) mode=(-i) ;;
  *)
    echo "usage: $0 [--fix]" >&2
    exit 1
    ;;
esac

command -v "$clang_format" >/dev/null 2>&1 ||
  { echo "check-format: $clang_format not found (deploy/install-deps.sh installs it)" >&2; exit 1; }

# The tracked sources in a git checkout; every source under the tree otherwise.
files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.cc' '*.h' '*.cpp' '*.hpp')
else
  mapfile -t files < <(find imap tls proxy tests \( -name '*.cc' -o -name '*.h' -o -name '*.cpp' \
    -o -name '*.hpp' \) -type f | sort)
fi
((${#files[@]} > 0)) || { echo "check-format: no sources found" >&2; exit 1; }

if ! "$clang_format" --style=file "${mode[@]}" "${files[@]}"; then
  echo "check-format: not formatted as .clang-format says ($("$clang_format" --version));" \
    "run deploy/check-format.sh --fix" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files ok ($("$clang_format" --version | sed 's/.*version //'))"
