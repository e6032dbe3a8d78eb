#!/usr/bin/env bash
# The `nnuc` command as users and scripts call it: the README's demo, --help of every command,
# nnU-Net's flag spellings (plan, extract-fingerprint, plan-experiment, convert-msd, synth, verify),
# `memory`, and the exit codes (0 success, 1 failure, 2 usage error). Exit code 3 (internal error, a
# broken invariant) cannot be provoked from the command line; tests/cli/run_command_test.cpp checks it
# on the dispatch itself.
#   nnuc_cli_test.sh PATH_TO_NNUC
set -uo pipefail
nnuc="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/../support/cli_expect.sh"

# The command table: help, version, unknown commands and options.
expect 0 "version" -- "$nnuc" version
expect 0 "--version" -- "$nnuc" --version
expect 2 "no command" -- "$nnuc"
contains "usage: nnuc <command>" "no command prints the usage"
expect 2 "unknown command" -- "$nnuc" no-such-command
contains "no-such-command" "unknown command names it"
expect 0 "help" -- "$nnuc" help
contains "3 internal error" "help lists the exit codes"
commands=$(awk '/^commands:/ { listing = 1; next } /^$/ { listing = 0 } listing { print $1 }' "$work/out.txt")
[ "$(echo "$commands" | wc -w)" -ge 8 ] || fail "help lists too few commands: $commands"
expect 0 "-h" -- "$nnuc" -h
for command in $commands; do
  expect 0 "$command --help" -- "$nnuc" "$command" --help
  contains "usage: nnuc $command" "$command --help shows its usage"
  contains "exit codes: 0" "$command --help lists the exit codes"
  expect 0 "help $command" -- "$nnuc" help "$command"
  contains "usage: nnuc $command" "help $command shows its usage"
done
expect 2 "help of an unknown command" -- "$nnuc" help no-such-command
expect 2 "selfcheck takes no arguments" -- "$nnuc" selfcheck extra
expect 2 "verify: unknown option" -- "$nnuc" verify --bogus
contains "--bogus" "verify: the error names the unknown option"
expect 2 "plan: an unknown one-dash option is not split into letters" -- "$nnuc" plan -npx 2
contains "'-npx'" "plan: the error names the one-dash option"
expect 2 "verify: option without its value" -- "$nnuc" verify -i
expect 2 "verify: -np out of range" -- "$nnuc" verify -i "$work" -np 0
contains "-np" "verify: the range error names -np"
"$nnuc" plan --help >"$work/out.txt" 2>&1
for spelling in -gpu_memory_target -np -pl --no_pp --verify_dataset_integrity; do
  contains "$spelling" "plan --help shows nnU-Net's $spelling"
done
grep -q -- "--np\b\|--gpu_memory_target\|--pl\b" "$work/out.txt" &&
  fail "plan --help shows nnU-Net's one-dash options with two dashes"

expect 0 "demo" -- "$nnuc" demo -o "$work/demo" --epochs 1
contains "selfcheck passed" "demo"
plans="$work/demo/nnUNet_preprocessed/Dataset900_Tiny/nnUNetPlans.json"
[ -s "$plans" ] || fail "demo wrote no $plans"
[ -d "$work/demo/nnUNet_preprocessed/Dataset900_Tiny/gt_segmentations" ] || fail "demo wrote no gt_segmentations"
[ -s "$work/demo/nnUNet_results/Dataset900_Tiny/nnUNetTrainer__nnUNetPlans__2d/fold_0/checkpoint_final.nnuc" ] ||
  fail "demo trained no model"

raw="$work/demo/nnUNet_raw/Dataset900_Tiny"
expect 0 "plan with nnU-Net's spellings" -- "$nnuc" plan -i "$raw" -o "$work/pp2" -gpu_memory_target 8 --no_pp \
  --verify_dataset_integrity -c 2d 3d_fullres -np 2 1 -pl ExperimentPlanner -q
expect 0 "plan with nnuc's spellings" -- "$nnuc" plan -i "$raw" -o "$work/pp2b" --gpu-memory 8 --no-preprocess \
  -c 2d,3d_fullres --workers 2 --planner ExperimentPlanner --quiet
expect 0 "plan with the nnunet memory model" -- env nnUNet_raw="$work/demo/nnUNet_raw" \
  nnUNet_preprocessed="$work/pp3" "$nnuc" plan -d 900 --memory-model nnunet --no-preprocess -q
[ -s "$work/pp3/Dataset900_Tiny/nnUNetPlans.json" ] || fail "plan -d wrote no plans"
expect 2 "plan: contradictory flags" -- "$nnuc" plan -i "$raw" -o "$work/pp4" --verify_dataset_integrity --no-verify
expect 2 "plan: unknown memory model" -- "$nnuc" plan -i "$raw" -o "$work/pp4" --memory-model guess
contains "guess" "plan: unknown memory model names the value"
expect 2 "plan: -gpu_memory_target without a number" -- "$nnuc" plan -i "$raw" -o "$work/pp4" -gpu_memory_target lots
contains "gpu-memory: Value lots" "plan: the error names the option and the value"
# nnU-Net's planning steps one at a time: extract-fingerprint, then plan-experiment, give the plans of
# plan --no_pp (pp3 above, same memory model) and leave the fingerprint as extracted.
steps=(env nnUNet_raw="$work/demo/nnUNet_raw" nnUNet_preprocessed="$work/pp6")
expect 2 "plan-experiment before extract-fingerprint" -- "${steps[@]}" "$nnuc" plan-experiment -d 900 -q
contains "extract-fingerprint -d 900" "plan-experiment: a missing fingerprint says how to make it"
expect 0 "extract-fingerprint with nnU-Net's spellings" -- "${steps[@]}" "$nnuc" extract-fingerprint -d 900 \
  -fpe DatasetFingerprintExtractor -np 2 --verify_dataset_integrity --verbose
contains "fingerprint: extracted" "extract-fingerprint extracts"
[ -s "$work/pp6/Dataset900_Tiny/dataset_fingerprint.json" ] || fail "extract-fingerprint wrote no fingerprint"
[ -e "$work/pp6/Dataset900_Tiny/nnUNetPlans.json" ] && fail "extract-fingerprint also planned"
fingerprint_before=$(cksum <"$work/pp6/Dataset900_Tiny/dataset_fingerprint.json")
expect 0 "extract-fingerprint again keeps the fingerprint" -- "${steps[@]}" "$nnuc" extract-fingerprint -d 900 -q
contains "fingerprint: reused" "extract-fingerprint reuses an unchanged dataset's fingerprint"
expect 0 "plan-experiment with nnU-Net's spellings" -- "${steps[@]}" "$nnuc" plan-experiment -d Dataset900_Tiny \
  -pl ExperimentPlanner -preprocessor_name DefaultPreprocessor --memory-model nnunet -q
contains "fingerprint: the output folder's own" "plan-experiment plans from the extracted fingerprint"
cmp -s "$work/pp6/Dataset900_Tiny/nnUNetPlans.json" "$work/pp3/Dataset900_Tiny/nnUNetPlans.json" ||
  fail "plan-experiment's plans differ from plan --no_pp's"
[ "$(cksum <"$work/pp6/Dataset900_Tiny/dataset_fingerprint.json")" = "$fingerprint_before" ] ||
  fail "plan-experiment changed the fingerprint"
[ -d "$work/pp6/Dataset900_Tiny/nnUNetPlans_2d" ] && fail "plan-experiment preprocessed"
expect 0 "plan-experiment with an overridden plans name and spacing" -- "${steps[@]}" "$nnuc" plan-experiment \
  -d 900 -overwrite_plans_name nnUNetPlans_1mm -overwrite_target_spacing 1 1 1 --memory-model nnunet -q
[ -s "$work/pp6/Dataset900_Tiny/nnUNetPlans_1mm.json" ] || fail "-overwrite_plans_name wrote no nnUNetPlans_1mm.json"
expect 0 "plan reuses the fingerprint extract-fingerprint made" -- "${steps[@]}" "$nnuc" plan -d 900 --no_pp -q \
  --memory-model nnunet
contains "fingerprint: reused" "plan after extract-fingerprint"
expect 2 "extract-fingerprint: an extractor nnuc does not have" -- "${steps[@]}" "$nnuc" extract-fingerprint \
  -d 900 -fpe MyExtractor
contains "MyExtractor" "extract-fingerprint: the error names the extractor"
expect 2 "plan-experiment: a preprocessor nnuc does not have" -- "${steps[@]}" "$nnuc" plan-experiment \
  -d 900 -preprocessor_name MyPreprocessor
contains "MyPreprocessor" "plan-experiment: the error names the preprocessor"
expect 2 "extract-fingerprint: an unknown dataset among several" -- "${steps[@]}" "$nnuc" extract-fingerprint \
  -d 900 917
contains "917" "extract-fingerprint: the error names the unknown dataset"
expect 2 "plan-experiment without -d" -- "${steps[@]}" "$nnuc" plan-experiment
cp -r "$raw" "$work/demo/nnUNet_raw/Dataset901_Tiny"
expect 0 "plan with several datasets, -npfp and --verbose" -- env nnUNet_raw="$work/demo/nnUNet_raw" \
  nnUNet_preprocessed="$work/pp7" "$nnuc" plan -d 900 901 --no_pp -npfp 2 --verbose --memory-model nnunet -q
for name in Dataset900_Tiny Dataset901_Tiny; do
  [ -s "$work/pp7/$name/nnUNetPlans.json" ] || fail "plan -d 900 901 wrote no plans for $name"
done
expect 2 "plan: an unknown dataset among several plans none" -- env nnUNet_raw="$work/demo/nnUNet_raw" \
  nnUNet_preprocessed="$work/pp8" "$nnuc" plan -d 900 917 --no_pp -q
contains "917" "plan: the error names the unknown dataset"
[ -e "$work/pp8" ] && fail "plan -d 900 917 planned 900"
expect 0 "verify with -np and --json" -- "$nnuc" verify -i "$raw" -np 2 --json "$work/report.json" --no-record -q
[ -s "$work/report.json" ] || fail "verify --json wrote no report"

# convert-msd with nnU-Net's -overwrite_id: an MSD task folder made from the tiny dataset.
task="$work/Task05_Tiny"
mkdir -p "$task/imagesTr" "$task/labelsTr"
for label in "$raw"/labelsTr/*.nii.gz; do
  case_id=$(basename "$label" .nii.gz)
  cp "$label" "$task/labelsTr/$case_id.nii.gz"
  cp "$raw/imagesTr/${case_id}_0000.nii.gz" "$task/imagesTr/$case_id.nii.gz"
done
python3 - "$raw/dataset.json" "$task" <<'PY'
import json, os, sys
v2 = json.load(open(sys.argv[1]))
cases = sorted(f[:-len(".nii.gz")] for f in os.listdir(os.path.join(sys.argv[2], "labelsTr")))
msd = {"name": "Tiny", "modality": {"0": "MRI"}, "labels": {str(v): k for k, v in v2["labels"].items()},
       "numTraining": len(cases), "training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"}
                                               for c in cases], "test": []}
json.dump(msd, open(os.path.join(sys.argv[2], "dataset.json"), "w"))
PY
expect 0 "convert-msd with -overwrite_id and -np" -- "$nnuc" convert-msd -i "$task" -o "$work/msd_raw" \
  -overwrite_id 905 -np 2 --verify
[ -s "$work/msd_raw/Dataset905_Tiny/dataset.json" ] || fail "convert-msd -overwrite_id 905 wrote no Dataset905_Tiny"

expect 0 "synth with list options" -- "$nnuc" synth --cases 2 --shape 12 16 16 --spacing 3 0.8 0.8 -np 2 -q \
  --structures tube,nested -o "$work/synth"
expect 2 "synth: --shape needs three sizes" -- "$nnuc" synth --shape 12 16 -o "$work/synth2"
contains "--shape" "synth: the error names --shape"

rm "$(ls "$raw"/labelsTr/* | head -n 1)"  # a case without its label
expect 1 "plan refuses a dataset that fails verification" -- "$nnuc" plan -i "$raw" -o "$work/pp5"
expect 1 "verify finds the missing label" -- "$nnuc" verify -i "$raw" -q

expect 0 "memory" -- "$nnuc" memory --patch 64,64,64 --batch 2
contains "saved activations" "memory breakdown"
expect 2 "memory: bad patch" -- "$nnuc" memory --patch 64,64
contains "--patch" "memory: the error names the option"
expect 2 "memory: unknown network" -- "$nnuc" memory --network 3d
contains "--network" "memory: the error names --network"

finish "nnuc command line"
