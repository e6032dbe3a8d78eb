#!/usr/bin/env bash
# Model selection end to end on the CPU: `nnuc synth --preset tiny` -> `nnuc plan -c 2d 3d_fullres` ->
# `nnuc train` of both configurations, all 5 folds, with --npz and a very short schedule -> `nnuc
# find-best` -> the commands of inference_instructions.txt (predict [+ ensemble] + postprocess) run
# on a test case of imagesTs/ -> outputs with the input's geometry -> `nnuc evaluate` against labelsTs
# -> `nnuc export-model` / `nnuc install-model` (and Python's zipfile) -> the installed model predicts
# the same bytes.
#   find_best_e2e_test.sh PATH_TO_NNUC
# The networks train for 1 epoch of 3 iterations, so the chosen model is whichever scores best by
# chance; the test checks the pipeline, not the Dice. About 2-3 minutes of 2 cores, most of it the
# 3d_fullres trainings and its 5-fold test-time-mirrored prediction (one test case is predicted:
# the smallest, test_002, one sliding-window tile).
set -uo pipefail
nnuc="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export nnUNet_raw="$work/raw" nnUNet_preprocessed="$work/pp" nnUNet_results="$work/results"
source "$(dirname "$0")/../support/cli_expect.sh"

run "$work/synth.log" "$nnuc" synth --preset tiny -o "$work/raw/Dataset900_Tiny"
run "$work/plan.log" "$nnuc" plan -d 900 -c 2d 3d_fullres -q
for configuration in 2d 3d_fullres; do
  for fold in 0 1 2 3 4; do
    run "$work/train_${configuration}_$fold.log" "$nnuc" train 900 "$configuration" "$fold" --device cpu --epochs 1 \
      --iters-per-epoch 3 --val-iters 1 --npz -q
  done
done
results="$work/results/Dataset900_Tiny"

# nnUNetv2_accumulate_crossval_results on its own.
run "$work/accumulate.log" "$nnuc" accumulate-crossval 900 -c 2d -np 2
[ -s "$results/nnUNetTrainer__nnUNetPlans__2d/crossval_results_folds_0_1_2_3_4/summary.json" ] ||
  fail "accumulate-crossval wrote no summary.json"

run "$work/find_best.log" "$nnuc" find-best -d 900 -np 2
grep -E "^(nnUNetTrainer|ensemble___|Configuration|best:)" "$work/find_best.log"
information="$results/inference_information.json"
instructions="$results/inference_instructions.txt"
[ -s "$information" ] || fail "no $information"
[ -s "$instructions" ] || fail "no $instructions"
python3 - "$information" <<'EOF' || failures=$((failures + 1))
import json, sys
info = json.load(open(sys.argv[1]))
for key in ["dataset_name_or_id", "considered_models", "ensembling_allowed", "folds", "best_model_or_ensemble",
            "all_results"]:
    assert key in info, f"inference_information.json lacks {key}"
best = info["best_model_or_ensemble"]
for key in ["selected_model_or_models", "some_plans_file", "postprocessing_file", "result_on_crossval_pre_pp",
            "result_on_crossval_post_pp"]:
    assert key in best, f"best_model_or_ensemble lacks {key}"
assert info["folds"] == [0, 1, 2, 3, 4], info["folds"]
assert [m["configuration"] for m in info["considered_models"]] == ["2d", "3d_fullres"], info["considered_models"]
assert len(info["all_results"]) == 3, info["all_results"]  # 2 singles + 1 pair ensemble
chosen = " + ".join(m["configuration"] for m in best["selected_model_or_models"])
print(f"chosen: {chosen}, cross-validation Dice {best['result_on_crossval_pre_pp']:.4f} "
      f"(after postprocessing {best['result_on_crossval_post_pp']:.4f})")
EOF

# The instructions, run as written with the placeholders replaced: one test case as the input.
mkdir -p "$work/input" "$work/out"
test_case=test_002
[ -f "$work/raw/Dataset900_Tiny/imagesTs/${test_case}_0000.nii.gz" ] ||
  test_case="$(basename "$(ls "$work/raw/Dataset900_Tiny/imagesTs/"*_0000.nii.gz | head -n 1)" _0000.nii.gz)"
cp "$work/raw/Dataset900_Tiny/imagesTs/${test_case}_0000.nii.gz" "$work/input/"
grep '^nnuc ' "$instructions" | sed -e "s#INPUT_FOLDER#$work/input#g" \
  -e "s#OUTPUT_FOLDER_MODEL_\([0-9]*\)#$work/out/model_\1#g" -e "s#OUTPUT_FOLDER_PP#$work/out/final_pp#g" \
  -e "s#OUTPUT_FOLDER#$work/out/final#g" -e "s#^nnuc #\"\$nnuc\" #" >"$work/commands.sh"
grep -q '^"$nnuc" predict ' "$work/commands.sh" || fail "the instructions hold no nnuc predict command"
grep -q '^"$nnuc" postprocess ' "$work/commands.sh" || fail "the instructions hold no nnuc postprocess command"
grep -Eq 'OUTPUT_FOLDER|INPUT_FOLDER' "$work/commands.sh" && fail "placeholders left: $(cat "$work/commands.sh")"
while IFS= read -r command; do
  eval "$command" >"$work/command.log" 2>&1 || { tail -n 20 "$work/command.log"; fail "instruction failed: $command"; }
done <"$work/commands.sh"

# Outputs: the prediction and its postprocessed copy, on the input's grid (NIfTI header geometry).
for output in "$work/out/final/$test_case.nii.gz" "$work/out/final_pp/$test_case.nii.gz"; do
  [ -s "$output" ] || { fail "no $output"; continue; }
  python3 - "$work/input/${test_case}_0000.nii.gz" "$output" <<'EOF' || fail "$output: geometry differs from the input"
import gzip, struct, sys
def geometry(path):
    header = gzip.open(path).read(348)
    dims = struct.unpack("<8h", header[40:56])
    return (dims[:dims[0] + 1], struct.unpack("<8f", header[76:108])[:4], header[252:256], header[256:328])
image, label = geometry(sys.argv[1]), geometry(sys.argv[2])
assert image == label, f"{sys.argv[2]}: {label} vs the input's {image}"
EOF
done
if grep -q "nnuc ensemble" "$instructions"; then
  [ -s "$work/out/model_1/$test_case.npz" ] || fail "the ensemble members wrote no probabilities"
fi

# nnuc evaluate against the held-out references (labelsTs holds every test case: --chill).
run "$work/evaluate.log" "$nnuc" evaluate -r "$work/raw/Dataset900_Tiny/labelsTs" -p "$work/out/final_pp" \
  -djfile "$work/raw/Dataset900_Tiny/dataset.json" --chill -np 2
[ -s "$work/out/final_pp/summary.json" ] || fail "nnuc evaluate wrote no summary.json"
grep -q "$test_case" "$work/out/final_pp/summary.json" || fail "summary.json does not name $test_case"

# Model sharing: export-model, then install-model into another results root and nnU-Net's own way
# (Python's zipfile.extractall); predictions from the installed model equal the original's bytes.
run "$work/export.log" "$nnuc" export-model -d 900 -c 2d 3d_fullres -o "$work/models.zip"
python3 - "$work/models.zip" <<'EOF' || fail "the model archive"
import sys, zipfile
archive = zipfile.ZipFile(sys.argv[1])
assert archive.testzip() is None, "a member with a bad CRC"
names = set(archive.namelist())
for configuration in ("2d", "3d_fullres"):
    model = f"Dataset900_Tiny/nnUNetTrainer__nnUNetPlans__{configuration}/"
    for fold in range(5):
        for file in ("checkpoint_final.nnuc", "debug.json", "progress.png", "validation/summary.json"):
            assert model + f"fold_{fold}/{file}" in names, model + f"fold_{fold}/{file}"
    for file in ("plans.json", "dataset.json", "crossval_results_folds_0_1_2_3_4/summary.json"):
        assert model + file in names, model + file
assert "Dataset900_Tiny/inference_information.json" in names
assert any(name.startswith("Dataset900_Tiny/ensembles/ensemble___") for name in names), "no ensemble"
assert not any(name.endswith(".npz") for name in names), "probabilities exported"
archive.extractall(sys.argv[1] + ".extracted")
EOF
run "$work/install.log" "$nnuc" install-model "$work/models.zip" -o "$work/installed"
grep -q "model folder: $work/installed/Dataset900_Tiny/nnUNetTrainer__nnUNetPlans__2d" "$work/install.log" ||
  fail "install-model did not name the 2d model folder: $(cat "$work/install.log")"
diff -r "$work/installed" "$work/models.zip.extracted" >/dev/null ||
  fail "install-model and Python's zipfile extracted different trees"
run "$work/predict_original.log" "$nnuc" predict -i "$work/input" -o "$work/out/original_2d" -d 900 -c 2d --device cpu -q
run "$work/predict_installed.log" "$nnuc" predict -i "$work/input" -o "$work/out/installed_2d" \
  -m "$work/installed/Dataset900_Tiny/nnUNetTrainer__nnUNetPlans__2d" --device cpu -q
cmp -s "$work/out/original_2d/$test_case.nii.gz" "$work/out/installed_2d/$test_case.nii.gz" ||
  fail "the installed model predicts other bytes than the original"
expect 2 "nnuc export-model of an untrained configuration" -- "$nnuc" export-model -d 900 -o "$work/all.zip"
contains "3d_lowres has no trained model" "nnuc export-model in strict mode: the message"

# An ensemble of a folder without probabilities is a usage error naming the folder.
mkdir -p "$work/empty"
expect 2 "nnuc ensemble without probabilities" -- "$nnuc" ensemble -i "$work/out/final" "$work/empty" -o "$work/out/bad"
contains "no .npz probabilities in $work/out/final" "nnuc ensemble without probabilities: the message"

finish "find-best end to end"
