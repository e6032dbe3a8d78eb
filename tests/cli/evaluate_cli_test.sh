#!/usr/bin/env bash
# `nnuc evaluate`, `nnuc determine-postprocessing` and `nnuc postprocess` as users call them, on the
# committed fixture (tests/data/fixtures/evaluation: 3 cases, nnunetv2's own outputs): exit codes 0
# success, 1 runtime failure (an unreadable file), 2 usage error (bad arguments, missing folder or
# case), and the files written (postprocessing.json equal to nnU-Net's, apply == determine, nnU-Net's
# postprocessing.pkl applied as its postprocessing.json).
#   evaluate_cli_test.sh PATH_TO_NNUC PATH_TO_FIXTURE
set -uo pipefail
nnuc="$1"
fixture="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/../support/cli_expect.sh"

ref="$fixture/ref"
cp -r "$fixture/pred" "$work/pred"
cp "$fixture/dataset.json" "$work/pred/dataset.json"

# evaluate
expect 0 "evaluate -djfile" -- "$nnuc" evaluate -r "$ref" -p "$work/pred" -djfile "$fixture/dataset.json" -np 2
contains "foreground mean" "evaluate prints the foreground mean"
[ -s "$work/pred/summary.json" ] || fail "evaluate wrote no summary.json"
expect 0 "evaluate -l -il -o" -- "$nnuc" evaluate -r "$ref" -p "$work/pred" -l 1 2 -il 3 -o "$work/labels.json"
grep -q '"Dice": NaN' "$work/labels.json" || fail "label 2 of case 2 is not NaN"
expect 0 "evaluate in nnU-Net's form (positional folders, -pfile)" -- "$nnuc" evaluate "$ref" "$work/pred" \
  -djfile "$fixture/dataset.json" -pfile "$fixture/dataset.json" -o "$work/positional.json" -np 2
same_file "$work/positional.json" "$work/pred/summary.json" "positional folders give the same summary"
expect 2 "evaluate: one positional folder" -- "$nnuc" evaluate "$ref" -l 1
expect 2 "evaluate: positional folders and -r" -- "$nnuc" evaluate "$ref" "$work/pred" -r "$ref" -l 1
contains "either as REFERENCE_DIR PREDICTION_DIR or with -r and -p" "evaluate: mixed forms are named"
expect 2 "evaluate: no folders" -- "$nnuc" evaluate -l 1
expect 2 "evaluate: -djfile and -l" -- "$nnuc" evaluate -r "$ref" -p "$work/pred" -djfile "$fixture/dataset.json" -l 1
expect 2 "evaluate: neither -djfile nor -l" -- "$nnuc" evaluate -r "$ref" -p "$work/pred"
expect 2 "evaluate: -o not .json" -- "$nnuc" evaluate -r "$ref" -p "$work/pred" -l 1 -o "$work/summary.txt"
expect 2 "evaluate: missing prediction folder" -- "$nnuc" evaluate -r "$ref" -p "$work/nope" -l 1
contains "$work/nope" "evaluate names the missing folder"
mkdir -p "$work/partial"
cp "$work/pred/case_000.nii.gz" "$work/partial/"
expect 2 "evaluate: a reference case without prediction" -- "$nnuc" evaluate -r "$ref" -p "$work/partial" -l 1 2
contains "case_001.nii.gz" "evaluate names the missing case"
expect 0 "evaluate --chill" -- "$nnuc" evaluate -r "$ref" -p "$work/partial" -l 1 2 --chill
contains "1 cases" "evaluate --chill evaluates what exists"
echo "not a nifti file" >"$work/partial/case_001.nii.gz"
expect 1 "evaluate: an unreadable prediction" -- "$nnuc" evaluate -r "$ref" -p "$work/partial" -l 1 2 --chill
contains "$work/partial/case_001.nii.gz" "evaluate names the unreadable file"

# determine-postprocessing (dataset.json from the prediction folder), then postprocess
expect 0 "determine-postprocessing" -- "$nnuc" determine-postprocessing -i "$work/pred" -ref "$ref" -np 2
contains "accepted" "determine-postprocessing reports its decisions"
same_file "$work/pred/postprocessing.json" "$fixture/postprocessing.json" "postprocessing.json equals nnU-Net's"
[ -s "$work/pred/postprocessed/summary.json" ] || fail "no postprocessed/summary.json"
expect 2 "determine-postprocessing: no dataset.json" -- "$nnuc" determine-postprocessing -i "$work/partial" -ref "$ref"
contains "-djfile" "determine-postprocessing says how to give dataset.json"
expect 0 "postprocess" -- "$nnuc" postprocess -i "$work/pred" -o "$work/applied" -pp "$work/pred/postprocessing.json"
for case in case_000 case_001 case_002; do
  same_file "$work/applied/$case.nii.gz" "$work/pred/postprocessed/$case.nii.gz" "postprocess == determined ($case)"
done
# nnU-Net's postprocessing.pkl (the pickle its determine_postprocessing wrote for this fixture) and spellings
expect 0 "postprocess -pp_pkl_file" -- "$nnuc" postprocess -i "$work/pred" -o "$work/applied_pkl" \
  -pp_pkl_file "$fixture/postprocessing.pkl" -plans_json "$fixture/dataset.json" -dataset_json "$fixture/dataset.json"
expect 0 "postprocess -pp with a pickle" -- "$nnuc" postprocess -i "$work/pred" -o "$work/applied_pkl2" \
  -pp "$fixture/postprocessing.pkl"
for case in case_000 case_001 case_002; do
  same_file "$work/applied_pkl/$case.nii.gz" "$work/applied/$case.nii.gz" "postprocess .pkl == .json ($case)"
  same_file "$work/applied_pkl2/$case.nii.gz" "$work/applied/$case.nii.gz" "postprocess -pp .pkl == .json ($case)"
done
expect 2 "postprocess: -pp and -pp_pkl_file" -- "$nnuc" postprocess -i "$work/pred" -o "$work/applied2" \
  -pp "$work/pred/postprocessing.json" -pp_pkl_file "$fixture/postprocessing.pkl"
printf '\x80\x02cposix\nsystem\nq\x00.' >"$work/hostile.pkl"
expect 2 "postprocess: a pickle naming os.system" -- "$nnuc" postprocess -i "$work/pred" -o "$work/applied2" \
  -pp_pkl_file "$work/hostile.pkl"
contains "hostile.pkl" "postprocess: the refused pickle is named"
cp -r "$fixture/pred" "$work/pred_rm"
expect 0 "determine-postprocessing --remove_postprocessed -plans_json" -- "$nnuc" determine-postprocessing \
  -i "$work/pred_rm" -ref "$ref" -dataset_json "$fixture/dataset.json" -plans_json "$fixture/dataset.json" \
  --remove_postprocessed -np 2
[ -e "$work/pred_rm/postprocessed" ] && fail "--remove_postprocessed kept postprocessed/"
same_file "$work/pred_rm/postprocessing.json" "$fixture/postprocessing.json" "postprocessing.json with --remove_postprocessed"
expect 2 "postprocess: -pp missing" -- "$nnuc" postprocess -i "$work/pred" -o "$work/applied2"
expect 2 "postprocess: missing input folder" -- "$nnuc" postprocess -i "$work/nope" -o "$work/applied2" \
  -pp "$work/pred/postprocessing.json"
expect 1 "postprocess: unreadable postprocessing.json" -- "$nnuc" postprocess -i "$work/pred" -o "$work/applied2" \
  -pp "$work/missing.json"
expect 1 "postprocess: an unreadable case" -- "$nnuc" postprocess -i "$work/partial" -o "$work/applied3" \
  -pp "$work/pred/postprocessing.json"
ls "$work/applied3"/*.nii.gz >/dev/null 2>&1 && fail "postprocess left cases after a failure"

finish "evaluate/postprocess command line"
