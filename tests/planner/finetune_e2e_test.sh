#!/usr/bin/env bash
# Fine-tuning end to end on the CPU, nnU-Net's way: a model trained on one dataset (tiny, 2 classes)
# initializes the training of another (1 class): `nnuc move-plans` -> `nnuc preprocess -plans_name`
# -> `nnuc train -p P -pretrained_weights CHECKPOINT`. Also: `nnuc preprocess` with a dataset's own
# plans writes the same case files as `nnuc plan` (MRI z-score and CT with the plans' statistics), and
# the refusals (another topology, --continue with pretrained weights, an existing target plans file).
#   finetune_e2e_test.sh PATH_TO_NNUC
# About a minute of 2 cores.
set -uo pipefail
nnuc="$1"
work="$(mktemp -d)"
if [ -n "${KEEP_WORK:-}" ]; then echo "work: $work"; else trap 'rm -rf "$work"' EXIT; fi
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export nnUNet_raw="$work/raw" nnUNet_preprocessed="$work/pp" nnUNet_results="$work/results"
source "$(dirname "$0")/../support/cli_expect.sh"
train_short=(--device cpu --epochs 1 --iters-per-epoch 2 --val-iters 1 --no-final-validation -q)

# The pretraining dataset and its model.
run "$work/synth_source.log" "$nnuc" synth --preset tiny -o "$work/raw/Dataset900_Tiny"
run "$work/plan_source.log" "$nnuc" plan -d 900 -c 2d -q
run "$work/train_source.log" "$nnuc" train 900 2d 0 "${train_short[@]}"
pretrained="$work/results/Dataset900_Tiny/nnUNetTrainer__nnUNetPlans__2d/fold_0/checkpoint_final.nnuc"
[ -s "$pretrained" ] || fail "no pretrained checkpoint"

# nnuc preprocess with a dataset's own plans writes what nnuc plan wrote.
mkdir -p "$work/again/Dataset900_Tiny"
cp "$work/pp/Dataset900_Tiny/nnUNetPlans.json" "$work/again/Dataset900_Tiny/"
run "$work/preprocess_again.log" "$nnuc" preprocess -d 900 -c 2d -o "$work/again" -q
diff -r "$work/pp/Dataset900_Tiny/nnUNetPlans_2d" "$work/again/Dataset900_Tiny/nnUNetPlans_2d" >/dev/null ||
  fail "nnuc preprocess wrote other case files than nnuc plan (MRI)"
diff -r "$work/pp/Dataset900_Tiny/gt_segmentations" "$work/again/Dataset900_Tiny/gt_segmentations" >/dev/null ||
  fail "nnuc preprocess copied other gt_segmentations"
run "$work/synth_ct.log" "$nnuc" synth --preset spleen --cases 2 --test-cases 0 --shape 12 40 40 \
  -o "$work/raw/Dataset909_SynthSpleen" -q
run "$work/plan_ct.log" "$nnuc" plan -d 909 -c 3d_fullres --memory-model nnunet -q
mkdir -p "$work/again/Dataset909_SynthSpleen"
cp "$work/pp/Dataset909_SynthSpleen/nnUNetPlans.json" "$work/again/Dataset909_SynthSpleen/"
run "$work/preprocess_ct.log" "$nnuc" preprocess -d 909 -c 3d_fullres -o "$work/again" -q
diff -r "$work/pp/Dataset909_SynthSpleen/nnUNetPlans_3d_fullres" "$work/again/Dataset909_SynthSpleen/nnUNetPlans_3d_fullres" \
  >/dev/null || fail "nnuc preprocess wrote other case files than nnuc plan (CT)"

# The target: another dataset with one foreground class.
run "$work/synth_target.log" "$nnuc" synth --preset tiny --classes 1 --seed 77 -o "$work/raw/Dataset901_Target" -q
run "$work/move.log" "$nnuc" move-plans -s 900 -t 901 -sp nnUNetPlans -tp nnUNetPlans_from900
moved="$work/pp/Dataset901_Target/nnUNetPlans_from900.json"
[ -s "$moved" ] || fail "move-plans wrote no $moved"
python3 - "$work/pp/Dataset900_Tiny/nnUNetPlans.json" "$moved" <<'PY' || fail "the moved plans"
import json, sys
source, moved = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert moved["dataset_name"] == "Dataset901_Target", moved["dataset_name"]
assert moved["plans_name"] == "nnUNetPlans_from900", moved["plans_name"]
for name, configuration in moved["configurations"].items():
    if "data_identifier" in configuration:
        assert configuration["data_identifier"] == "nnUNetPlans_from900" + source["configurations"][name]["data_identifier"][len("nnUNetPlans"):], configuration["data_identifier"]
        assert configuration.get("architecture") == source["configurations"][name].get("architecture")
        assert configuration["patch_size"] == source["configurations"][name]["patch_size"]
assert moved["foreground_intensity_properties_per_channel"] == source["foreground_intensity_properties_per_channel"]
PY
expect 2 "move-plans onto existing plans" -- "$nnuc" move-plans -s 900 -t 901 -tp nnUNetPlans_from900
contains "exists already" "move-plans onto existing plans: the message"

run "$work/preprocess_target.log" "$nnuc" preprocess -d 901 -plans_name nnUNetPlans_from900 -c 2d 3d_fullres -np 2
ls "$work/pp/Dataset901_Target/nnUNetPlans_from900_2d/"*.nnuc >/dev/null 2>&1 || fail "no preprocessed target cases"
[ -s "$work/pp/Dataset901_Target/dataset.json" ] || fail "nnuc preprocess wrote no dataset.json"

run "$work/finetune.log" "$nnuc" train 901 2d 0 -p nnUNetPlans_from900 -pretrained_weights "$pretrained" \
  --device cpu --epochs 1 --iters-per-epoch 2 --val-iters 1 --no-final-validation
grep -q "Pretrained weights from $pretrained: [0-9]* parameter tensors copied" "$work/finetune.log" ||
  fail "the fine-tuning run did not load the pretrained weights: $(grep -i pretrained "$work/finetune.log")"
folder="$work/results/Dataset901_Target/nnUNetTrainer__nnUNetPlans_from900__2d/fold_0"
[ -s "$folder/checkpoint_final.nnuc" ] || fail "the fine-tuning run wrote no checkpoint"
grep -q "pretrained_weights" "$folder/debug.json" || fail "debug.json does not record the pretrained weights"

expect 2 "pretrained weights of another topology" -- "$nnuc" train 901 3d_fullres 0 -p nnUNetPlans_from900 \
  -pretrained_weights "$pretrained" "${train_short[@]}"
contains "do not fit this network" "another topology: the message"
expect 2 "pretrained weights with --continue" -- "$nnuc" train 901 2d 0 -p nnUNetPlans_from900 \
  -pretrained_weights "$pretrained" --continue "${train_short[@]}"
contains "exclude each other" "--continue with pretrained weights: the message"
echo "not a checkpoint" >"$work/garbage.pth"
expect 1 "pretrained weights that are no checkpoint" -- "$nnuc" train 901 2d 0 -p nnUNetPlans_from900 \
  -pretrained_weights "$work/garbage.pth" "${train_short[@]}"
contains "not a checkpoint" "no checkpoint: the message"

finish "fine-tuning end to end"
