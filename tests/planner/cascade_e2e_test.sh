#!/usr/bin/env bash
# The 3-D cascade on the CPU, end to end (spec §3.8, §6.6, §6.10, §8.2): on a dataset whose fullres patch
# covers less than a quarter of the median case, nnuc plan itself creates 3d_lowres and 3d_cascade_fullres;
# cascade training without 3d_fullres's preprocessed data or without the lowres predictions is refused
# (exit 2, the missing folder or file named); the 5 folds of 3d_lowres write
# predicted_next_stage/3d_cascade_fullres/CASE.nnuc for every training case (the seg at the fullres
# preprocessed shape), and their final validation skips, with a message, a case the next stage has not
# preprocessed; 3d_cascade_fullres trains and validates on the predictions; nnuc predict
# -c 3d_cascade_fullres without -prev_stage_predictions first predicts 3d_lowres into
# OUTPUT/previous_stage_3d_lowres/, and with -prev_stage_predictions pointing there gives the same bytes.
#   cascade_e2e_test.sh PATH_TO_NNUC
# Dataset: the tiny preset (5 training + 2 test cases, ~32^3 at 1 mm) planned with nnU-Net's memory model
# under a 0.01 GB budget (-c 3d_lowres,3d_cascade_fullres: the cascade stands for 3d_fullres's data, as in
# nnU-Net): 3d_fullres gets a 16x14x14 patch (< 25 % of the median 33x30x30), so the lowres
# search coarsens the spacing to ~1.34 mm. Training schedules are one epoch of 2 iterations: the test
# checks the plumbing, not accuracy; prediction runs without mirroring (final validation mirrors). About a
# minute of two cores.
set -uo pipefail
nnuc="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# Debian's python3 has nibabel (as in tests/data/nifti_conformance_test.cpp); a python3 on PATH may not.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
source "$(dirname "$0")/../support/cli_expect.sh"
start=$SECONDS
stamp() { echo "[$((SECONDS - start)) s] $*"; }

raw="$work/raw/Dataset950_Cascade"
"$nnuc" synth --preset tiny --test-cases 2 -o "$raw" -q >/dev/null || { echo "FAIL: synth"; exit 1; }
"$nnuc" plan -i "$raw" -o "$work/pp" -gpu_memory_target 0.01 --memory-model nnunet -c 3d_lowres,3d_cascade_fullres -np 2 \
  -q >"$work/plan.log" 2>&1 || { cat "$work/plan.log"; echo "FAIL: plan"; exit 1; }
pp="$work/pp/Dataset950_Cascade"
stamp "synth + plan"
"$py" - "$pp/nnUNetPlans.json" <<'EOF' || { echo "FAIL: the planner made no cascade"; exit 1; }
import json, sys
configurations = json.load(open(sys.argv[1]))["configurations"]
for name in ("3d_lowres", "3d_fullres"):
    c = configurations[name]
    print(f"{name}: spacing {[round(s, 4) for s in c['spacing']]}, patch {c['patch_size']}, "
          f"median {c['median_image_size_in_voxels']}, batch {c['batch_size']}")
assert configurations["3d_lowres"].get("next_stage") == "3d_cascade_fullres", configurations["3d_lowres"]
cascade = configurations["3d_cascade_fullres"]
assert cascade.get("inherits_from") == "3d_fullres" and cascade.get("previous_stage") == "3d_lowres", cascade
EOF

train() {  # train CONFIGURATION FOLD LOG
  "$nnuc" train -i "$pp" -c "$1" -f "$2" -o "$work/results" --device cpu --epochs 1 --iters-per-epoch 2 --val-iters 1 \
    --seed 0 >"$3" 2>&1
}
lowres="$work/results/Dataset950_Cascade/nnUNetTrainer__nnUNetPlans__3d_lowres"
cascade="$work/results/Dataset950_Cascade/nnUNetTrainer__nnUNetPlans__3d_cascade_fullres"
next_stage="$lowres/predicted_next_stage/3d_cascade_fullres"

# The cascade trains on 3d_fullres's preprocessed data: without it, the message says which -c writes it.
mv "$pp/nnUNetPlans_3d_fullres" "$work/fullres_aside"
train 3d_cascade_fullres 0 "$work/unprocessed.log"
code=$?
[ "$code" -eq 2 ] || fail "cascade training without preprocessed data: exit code $code, expected 2"
grep -q "nnUNetPlans_3d_fullres does not exist (run nnuc plan with -c 3d_fullres)" "$work/unprocessed.log" ||
  fail "the message does not name the data or the -c that writes it: $(cat "$work/unprocessed.log")"
mv "$work/fullres_aside" "$pp/nnUNetPlans_3d_fullres"

# The cascade before its previous stage: a usage error naming the missing prediction.
train 3d_cascade_fullres 0 "$work/early.log"
code=$?
[ "$code" -eq 2 ] || fail "cascade training without the lowres predictions: exit code $code, expected 2"
grep -q "predicted_next_stage/3d_cascade_fullres/case_[0-9]*\.nnuc" "$work/early.log" ||
  fail "the message does not name the missing prediction: $(cat "$work/early.log")"
grep -q "train all folds of 3d_lowres" "$work/early.log" || fail "the message does not say what to do"

for fold in 0 1 2 3 4; do
  if ! train 3d_lowres "$fold" "$work/lowres_$fold.log"; then
    tail -n 20 "$work/lowres_$fold.log"
    echo "FAIL: nnuc train 3d_lowres fold $fold"
    exit 1
  fi
done
stamp "3d_lowres: 5 folds trained"
# Final validation of 3d_lowres without the next stage's preprocessed cases (nnuc plan -c 3d_lowres alone):
# the validation is complete, each next-stage case is reported as skipped (as nnU-Net).
mv "$pp/nnUNetPlans_3d_fullres" "$work/fullres_aside"
"$nnuc" train -i "$pp" -c 3d_lowres -f 0 -o "$work/results" --device cpu --val >"$work/val_only.log" 2>&1 ||
  fail "final validation of 3d_lowres without the 3d_fullres cases: $(tail -n 5 "$work/val_only.log")"
grep -q "Predicting next stage 3d_cascade_fullres failed for case .*run nnuc plan with -c 3d_fullres" \
  "$work/val_only.log" || fail "no message about the skipped next-stage case: $(cat "$work/val_only.log")"
grep -q "Mean Validation Dice" "$work/val_only.log" || fail "the validation without the next stage's cases stopped"
mv "$work/fullres_aside" "$pp/nnUNetPlans_3d_fullres"
# One out-of-fold prediction per training case, the seg at the shape of its fullres preprocessed case.
"$py" - "$next_stage" "$pp/nnUNetPlans_3d_fullres" <<'EOF' || failures=$((failures + 1))
import json, os, struct, sys
import numpy as np
next_stage, fullres = sys.argv[1], sys.argv[2]

def seg(path):
    with open(path, "rb") as f:
        blob = f.read()
    assert blob[:8] == b"NNUCPREP", path
    (length,) = struct.unpack_from("<I", blob, 12)
    header = json.loads(blob[32:32 + length])
    array = next(a for a in header["arrays"] if a["name"] == "seg")
    return np.frombuffer(blob, np.int16, int(np.prod(array["shape"])), array["offset"]).reshape(array["shape"])

cases = sorted(f for f in os.listdir(fullres) if f.endswith(".nnuc"))
written = sorted(f for f in os.listdir(next_stage) if f.endswith(".nnuc"))
assert written == cases, f"predicted_next_stage holds {written}, expected {cases}"
for name in cases:
    predicted, reference = seg(os.path.join(next_stage, name)), seg(os.path.join(fullres, name))
    assert predicted.shape == reference.shape, (name, predicted.shape, reference.shape)
    assert predicted.min() >= 0 and predicted.max() <= 2, (name, np.unique(predicted))
print(f"predicted_next_stage: {len(cases)} cases at the fullres preprocessed shapes")
EOF

if ! train 3d_cascade_fullres 0 "$work/cascade.log"; then
  tail -n 20 "$work/cascade.log"
  echo "FAIL: nnuc train 3d_cascade_fullres"
  exit 1
fi
[ -s "$cascade/fold_0/checkpoint_final.nnuc" ] || fail "no cascade checkpoint_final.nnuc"
[ -s "$cascade/fold_0/validation/summary.json" ] || fail "no cascade validation/summary.json"
ls "$cascade"/fold_0/validation/case_*.nii.gz >/dev/null 2>&1 || fail "no cascade validation predictions"
grep -q "Mean Validation Dice" "$work/cascade.log" || fail "no 'Mean Validation Dice' line from the cascade"
stamp "3d_cascade_fullres: fold 0 trained"

# Prediction: the previous stage first (all 5 lowres folds), then the cascade on its output.
if ! nnUNet_results="$work/results" "$nnuc" predict -i "$raw/imagesTs" -o "$work/pred" -d 950 -c 3d_cascade_fullres \
  --device cpu --disable_tta >"$work/predict.log" 2>&1; then
  cat "$work/predict.log"
  fail "nnuc predict -c 3d_cascade_fullres"
fi
stamp "predicted 3d_lowres + 3d_cascade_fullres"
if ! "$nnuc" predict -i "$raw/imagesTs" -o "$work/pred_prev" -m "$cascade" --device cpu --disable_tta \
  -prev_stage_predictions "$work/pred/previous_stage_3d_lowres" >"$work/predict_prev.log" 2>&1; then
  cat "$work/predict_prev.log"
  fail "nnuc predict -c 3d_cascade_fullres -prev_stage_predictions"
fi
[ -e "$work/pred_prev/previous_stage_3d_lowres" ] && fail "-prev_stage_predictions given, yet the lowres stage ran"
for case in test_000 test_001; do
  for file in "$work/pred/previous_stage_3d_lowres/$case.nii.gz" "$work/pred/$case.nii.gz" \
    "$work/pred_prev/$case.nii.gz"; do
    [ -s "$file" ] || fail "no $file"
  done
  cmp -s "$work/pred/$case.nii.gz" "$work/pred_prev/$case.nii.gz" ||
    fail "$case: the cascade's output differs with -prev_stage_predictions"
done
# The previous stage's channels reach the network: an all-label-1 previous stage changes the output.
mkdir -p "$work/ones"
"$py" - "$work/pred/previous_stage_3d_lowres" "$work/ones" <<'EOF' || failures=$((failures + 1))
import sys, nibabel as nib, numpy as np
source, target = sys.argv[1], sys.argv[2]
for case in ("test_000", "test_001"):
    seg = nib.load(f"{source}/{case}.nii.gz")
    nib.save(nib.Nifti1Image(np.ones(seg.shape, np.uint8), seg.affine, seg.header), f"{target}/{case}.nii.gz")
EOF
"$nnuc" predict -i "$raw/imagesTs" -o "$work/pred_ones" -m "$cascade" --device cpu --disable_tta \
  -prev_stage_predictions "$work/ones" >"$work/predict_ones.log" 2>&1 ||
  fail "nnuc predict with an all-ones previous stage: $(cat "$work/predict_ones.log")"
"$py" - "$raw" "$work/pred" "$work/pred_ones" <<'EOF' || failures=$((failures + 1))
import sys, nibabel as nib, numpy as np
raw, pred, ones = sys.argv[1], sys.argv[2], sys.argv[3]
changed = False
for case in ("test_000", "test_001"):
    image = nib.load(f"{raw}/imagesTs/{case}_0000.nii.gz")
    for path in (f"{pred}/previous_stage_3d_lowres/{case}.nii.gz", f"{pred}/{case}.nii.gz"):
        seg = nib.load(path)
        assert seg.shape == image.shape, (path, seg.shape, image.shape)
        assert np.allclose(seg.affine, image.affine), (path, seg.affine, image.affine)
        assert seg.get_data_dtype() == np.uint8, (path, seg.get_data_dtype())
        assert set(np.unique(np.asarray(seg.dataobj))) <= {0, 1, 2}, (path, np.unique(np.asarray(seg.dataobj)))
    changed |= not np.array_equal(np.asarray(nib.load(f"{pred}/{case}.nii.gz").dataobj),
                                  np.asarray(nib.load(f"{ones}/{case}.nii.gz").dataobj))
assert changed, "the cascade's output ignores the previous stage's segmentation"
print("predictions: the inputs' geometry; the previous stage feeds the cascade")
EOF

stamp "done"
finish "cascade end to end"
