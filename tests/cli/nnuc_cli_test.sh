#!/usr/bin/env bash
# The `nnuc` command as users and scripts call it: the README's demo, --help of every command,
# nnU-Net's flag spellings (plan, convert-msd, synth, verify), `memory`, and the exit codes (0
# success, 1 failure, 2 usage error). Exit code 3 (internal error, a broken invariant) cannot be
# provoked from the command line; tests/cli/run_command_test.cpp checks it on the dispatch itself.
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
