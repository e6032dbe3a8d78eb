#!/usr/bin/env bash
# nnU-Net's main job on the CPU, end to end: `nnuc synth --preset tiny` -> `nnuc plan` -> `nnuc train`
# (2d configuration, fold 0, a short schedule) reaches a validation pseudo Dice of at least 0.75
# (the mean over the last 3 epochs of the per-epoch mean foreground pseudo Dice), the fold folder
# holds what nnU-Net's does (final validation included), and `nnuc predict` + `nnuc evaluate` on the
# held-out test cases give outputs with the inputs' geometry and a mean foreground Dice of at least
# 0.7; a damaged input case fails alone, named, while the others are written.
#   trainer_e2e_test.sh PATH_TO_NNUC
# Schedule: 10 epochs x 25 training iterations (batch 7 of 32x32, the tiny dataset's 2d plan) + 10
# validation iterations, seed 0: about 45 s of one core; the pseudo Dice passes 0.8 from epoch 3 on
# (the threshold leaves room for other thread counts, which change the float summation order).
set -uo pipefail
nnuc="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A fixed thread count makes the run reproducible (the CPU kernels are deterministic for a given
# count); passive waiting keeps OpenMP threads from spinning on a machine shared with other work.
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$(dirname "$0")/../support/cli_expect.sh"

"$nnuc" synth --preset tiny -o "$work/raw/Dataset900_Tiny" >/dev/null || { echo "FAIL: synth"; exit 1; }
"$nnuc" plan -i "$work/raw/Dataset900_Tiny" -o "$work/pp" -c 2d -q >/dev/null || { echo "FAIL: plan"; exit 1; }
# Usage errors exit with 2 and name what is wrong, before any training.
expect_usage_error() {  # expect_usage_error TEXT ARGS...: exit code 2 and TEXT in the message
  local text="$1"
  shift
  expect 2 "nnuc train $*" -- "$nnuc" train "$@"
  contains "$text" "nnuc train $*: the message"
}
expect_usage_error "expected -i PREPROCESSED_DIR"
expect_usage_error "no configuration \"3d\"" -i "$work/pp/Dataset900_Tiny" -c 3d -f 0 -o "$work/results"
expect_usage_error "nnUNetTrainerFancy" -i "$work/pp/Dataset900_Tiny" -c 2d -f 0 -o "$work/results" -tr nnUNetTrainerFancy
expect_usage_error "fold" -i "$work/pp/Dataset900_Tiny" -c 2d -f seven -o "$work/results"
# nnU-Net's positional form with the environment variables.
if ! nnUNet_preprocessed="$work/pp" nnUNet_results="$work/results" "$nnuc" train 900 2d 0 --device cpu --epochs 10 \
  --iters-per-epoch 25 --val-iters 10 --seed 0 >"$work/train.log" 2>&1; then
  tail -n 20 "$work/train.log"
  echo "FAIL: nnuc train"
  exit 1
fi
base="$work/results/Dataset900_Tiny/nnUNetTrainer__nnUNetPlans__2d"
fold="$base/fold_0"
for file in "$base/plans.json" "$base/dataset.json" "$base/dataset_fingerprint.json" "$fold/checkpoint_final.nnuc" \
  "$fold/checkpoint_best.nnuc" "$fold/training_log.json" "$fold/debug.json" "$fold/progress.png"; do
  [ -s "$file" ] || fail "missing $file"
done
[ -e "$fold/checkpoint_latest.nnuc" ] && fail "checkpoint_latest.nnuc left after training"
ls "$fold"/training_log_*.txt >/dev/null 2>&1 || fail "no training_log_*.txt"
grep -q "Yayy! New best EMA pseudo Dice" "$fold"/training_log_*.txt || fail "the text log has no new best EMA line"
grep -q "Epoch 9" "$fold"/training_log_*.txt || fail "the text log has no Epoch 9"

python3 - "$fold/training_log.json" <<'EOF' || failures=$((failures + 1))
import json, sys
log = json.load(open(sys.argv[1]))
dice = log["mean_fg_dice"]
last = sum(dice[-3:]) / 3
print("per-epoch mean pseudo Dice:", " ".join(f"{d:.3f}" for d in dice), f"(last 3: {last:.3f})")
print("train losses:", " ".join(f"{l:.3f}" for l in log["train_losses"]))
assert len(dice) == 10, f"{len(dice)} epochs logged, expected 10"
assert last >= 0.75, f"pseudo Dice of the last 3 epochs {last:.3f} < 0.75"
assert log["train_losses"][-1] < log["train_losses"][0], "the training loss did not fall"
EOF

# Final validation (spec §6.6): validation/CASE.nii.gz + summary.json in nnU-Net's layout.
[ -s "$fold/validation/summary.json" ] || fail "no validation/summary.json"
ls "$fold"/validation/*.nii.gz >/dev/null 2>&1 || fail "no validation predictions"
grep -q "Mean Validation Dice" "$work/train.log" || fail "no 'Mean Validation Dice' line in the output"

# Prediction of the held-out cases and their evaluation.
raw="$work/raw/Dataset900_Tiny"
if ! "$nnuc" predict -i "$raw/imagesTs" -o "$work/pred" -m "$base" -f 0 --device cpu >"$work/predict.log" 2>&1; then
  tail -n 20 "$work/predict.log"
  fail "nnuc predict"
fi
for case in test_000 test_001 test_002; do
  [ -s "$work/pred/$case.nii.gz" ] || fail "no prediction $case.nii.gz"
done
for file in plans.json dataset.json predict_from_raw_data_args.json; do [ -s "$work/pred/$file" ] || fail "no $file"; done
# Debian's interpreter (python3-nibabel, installed by scripts/setup.sh), whatever python3 comes first.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" - "$raw" "$work/pred" <<'EOF' || failures=$((failures + 1))
import sys, nibabel as nib, numpy as np
raw, pred = sys.argv[1], sys.argv[2]
for case in ("test_000", "test_001", "test_002"):
    image = nib.load(f"{raw}/imagesTs/{case}_0000.nii.gz")
    seg = nib.load(f"{pred}/{case}.nii.gz")
    assert seg.shape == image.shape, (case, seg.shape, image.shape)
    assert np.allclose(seg.affine, image.affine), (case, seg.affine, image.affine)
    assert seg.get_data_dtype() == np.uint8, seg.get_data_dtype()
print("prediction geometry: equal to the inputs'")
EOF
if ! "$nnuc" evaluate -r "$raw/labelsTs" -p "$work/pred" -djfile "$raw/dataset.json" >"$work/evaluate.log" 2>&1; then
  cat "$work/evaluate.log"
  fail "nnuc evaluate"
fi
python3 - "$work/pred/summary.json" <<'EOF' || failures=$((failures + 1))
import json, sys
summary = json.load(open(sys.argv[1]))
dice = summary["foreground_mean"]["Dice"]
print(f"held-out mean foreground Dice: {dice:.3f}; per label:",
      {k: round(v["Dice"], 3) for k, v in summary["mean"].items()})
assert dice >= 0.7, f"held-out mean foreground Dice {dice:.3f} < 0.7"
EOF
# --continue skips what exists; a damaged case fails alone and is named, the others are written.
"$nnuc" predict -i "$raw/imagesTs" -o "$work/pred" -m "$base" -f 0 --device cpu --continue >"$work/continue.log" 2>&1 ||
  fail "nnuc predict --continue"
[ "$(grep -c 'skipped' "$work/continue.log")" -eq 3 ] || fail "--continue did not skip the 3 cases: $(cat "$work/continue.log")"
mkdir -p "$work/mixed"
cp "$raw/imagesTs/test_000_0000.nii.gz" "$raw/imagesTs/test_001_0000.nii.gz" "$work/mixed/"
head -c 300 "$raw/imagesTs/test_002_0000.nii.gz" >"$work/mixed/test_002_0000.nii.gz"
"$nnuc" predict -i "$work/mixed" -o "$work/mixed_pred" -m "$base" -f 0 --device cpu >"$work/mixed.log" 2>&1
code=$?
[ "$code" -eq 1 ] || fail "a damaged case: exit code $code, expected 1"
grep -q "test_002" "$work/mixed.log" || fail "the damaged case is not named: $(cat "$work/mixed.log")"
{ [ -s "$work/mixed_pred/test_000.nii.gz" ] && [ -s "$work/mixed_pred/test_001.nii.gz" ]; } ||
  fail "the intact cases were not written beside the damaged one"
"$nnuc" predict -i "$raw/imagesTs" -o "$work/nothing" -m "$work/no_such_model" >"$work/nomodel.log" 2>&1
code=$?
{ [ "$code" -ne 0 ] && grep -q "no_such_model" "$work/nomodel.log"; } ||
  fail "a missing model folder: exit $code, $(cat "$work/nomodel.log")"

# --disable_checkpointing (nnU-Net's flag): no checkpoint file, and the final validation uses the
# weights in memory: its summary equals that of the same run (same seed, same schedule) with
# checkpoints, whose validation reads checkpoint_final from disk.
short=(-i "$work/pp/Dataset900_Tiny" -c 2d -f 0 --device cpu --epochs 2 --iters-per-epoch 5 --val-iters 2 --seed 1)
expect_usage_error "one GPU" "${short[@]}" -o "$work/r_usage" -num_gpus 2
expect_usage_error "checkpoint_best" "${short[@]}" -o "$work/r_usage" --disable_checkpointing --val_best
run "$work/nockpt.log" "$nnuc" train "${short[@]}" -o "$work/r_nockpt" --disable_checkpointing -num_gpus 1
run "$work/ckpt.log" "$nnuc" train "${short[@]}" -o "$work/r_ckpt"
nockpt="$work/r_nockpt/Dataset900_Tiny/nnUNetTrainer__nnUNetPlans__2d/fold_0"
ckpt="$work/r_ckpt/Dataset900_Tiny/nnUNetTrainer__nnUNetPlans__2d/fold_0"
ls "$nockpt"/checkpoint_* >/dev/null 2>&1 && fail "--disable_checkpointing wrote $(ls "$nockpt"/checkpoint_*)"
grep -q "No checkpoint written, checkpointing is disabled" "$nockpt"/training_log_*.txt ||
  fail "the text log does not say that checkpointing is disabled"
[ -s "$nockpt/progress.png" ] || fail "--disable_checkpointing: no progress.png"
[ -s "$ckpt/checkpoint_final.nnuc" ] || fail "the run with checkpoints has no checkpoint_final.nnuc"
python3 - "$nockpt/validation/summary.json" "$ckpt/validation/summary.json" <<'EOF2' || failures=$((failures + 1))
import json, sys
memory, disk = (json.load(open(f)) for f in sys.argv[1:])
metrics = lambda summary: [case["metrics"] for case in summary["metric_per_case"]]
assert len(metrics(memory)) > 0 and metrics(memory) == metrics(disk), "the in-memory validation differs from checkpoint_final's"
print(f"--disable_checkpointing: final validation equal to checkpoint_final's (Dice {memory['foreground_mean']['Dice']:.3f})")
EOF2

finish "train end to end"
