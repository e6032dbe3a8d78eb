#!/usr/bin/env bash
# The `nnuc` command as users and scripts call it: the README's demo, `plan` with nnU-Net's flag
# spellings, `memory`, and the exit codes (0 success, 1 failure, 2 usage error).
#   nnuc_cli_test.sh PATH_TO_NNUC
set -uo pipefail
nnuc="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0

expect() {  # expect CODE DESCRIPTION -- COMMAND...
  local code="$1" what="$2"
  shift 3
  "$@" >"$work/out.txt" 2>&1
  local got=$?
  if [ "$got" -ne "$code" ]; then
    echo "FAIL: $what: exit code $got, expected $code; output:"
    tail -n 20 "$work/out.txt"
    failures=$((failures + 1))
  else
    echo "ok: $what"
  fi
}
contains() {  # contains TEXT DESCRIPTION: the last command's output has TEXT
  if ! grep -q -- "$1" "$work/out.txt"; then
    echo "FAIL: $2: output lacks '$1'"
    tail -n 20 "$work/out.txt"
    failures=$((failures + 1))
  fi
}

expect 0 "version" -- "$nnuc" version
expect 2 "unknown command" -- "$nnuc" no-such-command
expect 0 "demo" -- "$nnuc" demo -o "$work/demo"
contains "selfcheck passed" "demo"
plans="$work/demo/nnUNet_preprocessed/Dataset900_Tiny/nnUNetPlans.json"
[ -s "$plans" ] || { echo "FAIL: demo wrote no $plans"; failures=$((failures + 1)); }
[ -d "$work/demo/nnUNet_preprocessed/Dataset900_Tiny/gt_segmentations" ] ||
  { echo "FAIL: demo wrote no gt_segmentations"; failures=$((failures + 1)); }

raw="$work/demo/nnUNet_raw/Dataset900_Tiny"
expect 0 "plan with nnU-Net's spellings" -- "$nnuc" plan -i "$raw" -o "$work/pp2" -gpu_memory_target 8 --no_pp \
  --verify_dataset_integrity -c 2d 3d_fullres -np 2 1 -q
expect 0 "plan with the nnunet memory model" -- env nnUNet_raw="$work/demo/nnUNet_raw" \
  nnUNet_preprocessed="$work/pp3" "$nnuc" plan -d 900 --memory-model nnunet --no-preprocess -q
[ -s "$work/pp3/Dataset900_Tiny/nnUNetPlans.json" ] || { echo "FAIL: plan -d wrote no plans"; failures=$((failures + 1)); }
expect 2 "plan: contradictory flags" -- "$nnuc" plan -i "$raw" -o "$work/pp4" --verify_dataset_integrity --no-verify
expect 2 "plan: unknown memory model" -- "$nnuc" plan -i "$raw" -o "$work/pp4" --memory-model guess
contains "guess" "plan: unknown memory model names the value"
rm "$(ls "$raw"/labelsTr/* | head -n 1)"  # a case without its label
expect 1 "plan refuses a dataset that fails verification" -- "$nnuc" plan -i "$raw" -o "$work/pp5"

expect 0 "memory" -- "$nnuc" memory --patch 64,64,64 --batch 2
contains "saved activations" "memory breakdown"
expect 2 "memory: bad patch" -- "$nnuc" memory --patch 64,64
contains "--patch" "memory: the error names the option"

[ "$failures" -eq 0 ] && echo "nnuc command line: all checks passed" || echo "nnuc command line: $failures failure(s)"
[ "$failures" -eq 0 ]
