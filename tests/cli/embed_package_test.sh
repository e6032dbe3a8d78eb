#!/usr/bin/env bash
# nnuc as a CMake package: `cmake --install` of an already built tree into a temporary prefix, then
# examples/embed configured with find_package(nnuc) against that prefix and built (nnuc itself is not
# rebuilt: the install only copies), and the example run without arguments (usage, exit code 2).
# Also checks the installed layout and that the package holds no path of the source or build tree.
#   embed_package_test.sh BUILD_DIR SOURCE_DIR CXX_COMPILER GENERATOR [COMPILER_LAUNCHER]
set -uo pipefail
build="$1" source="$2" cxx="$3" generator="$4" launcher="${5:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
source "$(dirname "$0")/../support/cli_expect.sh"
step() {  # step DESCRIPTION -- COMMAND...: runs it, output in $work/out.txt; stops the test on failure
  local what="$1"
  shift 2
  if "$@" >"$work/out.txt" 2>&1; then
    echo "ok: $what"
  else
    echo "FAIL: $what (exit code $?); output:"
    tail -n 40 "$work/out.txt"
    exit 1
  fi
}

step "cmake --install into a temporary prefix" -- cmake --install "$build" --prefix "$prefix"

# The layout users rely on.
for file in lib/cmake/nnuc/nnucConfig.cmake lib/cmake/nnuc/nnucConfigVersion.cmake \
  lib/cmake/nnuc/nnucTargets.cmake include/nnuc/nn/predict/predictor.h include/nnuc/planner/model_folder.h \
  include/nnuc/data/preprocess/nifti_case.h include/nnuc/kernels/core/tensor.h bin/nnuc; do
  [ -f "$prefix/$file" ] || fail "installed file missing: $file"
done
for library in core kernels autograd data augment nn planner; do
  [ -f "$prefix/lib/libnnuc_$library.a" ] || fail "static library missing: lib/libnnuc_$library.a"
done
# Relocatable: no path of the source or build tree, and nnuc's warning flags stay in nnuc's own build.
if grep -rlF -e "$(cd "$source" && pwd)" -e "$(cd "$build" && pwd)" "$prefix/lib/cmake/nnuc"; then
  fail "the package names a path of the source or build tree (files above)"
fi
if grep -q -e "-Werror" -e "-Wshadow" "$prefix/lib/cmake/nnuc/nnucTargets.cmake"; then
  fail "nnucTargets.cmake passes nnuc's warning flags on to users"
fi
step "the installed nnuc runs" -- "$prefix/bin/nnuc" version

configure=(cmake -S "$source/examples/embed" -B "$work/example" -G "$generator" -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx")
[ -n "$launcher" ] && configure+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher")
step "examples/embed configures with find_package(nnuc)" -- "${configure[@]}"
grep -q "$prefix/lib/cmake/nnuc" "$work/example/CMakeCache.txt" || fail "nnuc_DIR is not the temporary prefix"
step "examples/embed builds against the installed nnuc" -- cmake --build "$work/example"

expect 2 "predict_volume without arguments exits 2" -- "$work/example/predict_volume"
contains "usage: predict_volume" "predict_volume without arguments prints its usage"

finish "embed package"
