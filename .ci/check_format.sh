#!/usr/bin/env bash
# Fails when a tracked C++/CUDA file is not formatted as the repository's .clang-format says
# (clang-format --dry-run --Werror prints each place that differs).
#   .ci/check_format.sh          check every tracked .h .hpp .cuh .cpp .cc .cu file
#   .ci/check_format.sh --fix    format them in place (clang-format -i)
# CI uses Debian's clang-format (version 14 on bookworm; scripts/setup.sh installs it); other versions
# may format a few constructs differently. scripts/test.sh runs this check when NNUC_CHECK_FORMAT=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v clang-format >/dev/null ||
  { echo "check_format: clang-format is missing (scripts/setup.sh installs it)" >&2; exit 1; }
files=()
while IFS= read -r file; do
  [ -f "$file" ] && files+=("$file")  # a file deleted in the working tree but still tracked is skipped
done < <(git ls-files -- '*.h' '*.hpp' '*.cuh' '*.cpp' '*.cc' '*.cu')

if [ "${1:-}" = "--fix" ]; then
  clang-format -i --style=file "${files[@]}"
  echo "check_format: formatted ${#files[@]} files with $(clang-format --version)"
  exit 0
fi
if ! clang-format --dry-run --Werror --style=file "${files[@]}"; then
  echo "check_format: the files above differ from .clang-format; .ci/check_format.sh --fix formats them" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files formatted as .clang-format says ($(clang-format --version))"
