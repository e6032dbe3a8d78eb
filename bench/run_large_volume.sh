#!/usr/bin/env bash
# Host memory and time of `nnuc predict` on one large volume (512 x 512 x 1000 by default): the check
# that a whole-body-CT-sized case does not exhaust host memory (spec §8.3-8.4: accumulation, slabbed
# resampling of the logits, export).
#
#   bench/run_large_volume.sh NNUC_BINARY [--device cpu|cuda] [--shape X Y Z] [--out DIR]
#
#  1. `nnuc synth --preset tiny` and `nnuc plan -c 3d_fullres`; the 3d_fullres plans are then edited to
#     a small network (features 4 8 16 32, the same 4 stages) with a 128^3 patch, so that a CPU run of
#     ~700 tiles takes minutes, not hours. Memory does not depend on the weights' quality. With
#     PYTHON_NNUNET (an interpreter with torch and nnunetv2) the model folder is nnU-Net's, built by
#     bench/baselines/nnunet_predict.py with random weights; without it `nnuc train` runs 1 epoch of 2
#     iterations (fold 0, no final validation) only to write a real checkpoint.
#  2. Two cases of SHAPE voxels (int16, a noisy background with bright spheres), written by nibabel:
#       same_spacing: 1 mm isotropic, the plans' spacing: no resampling (the sliding window and export);
#       resampled:    0.8 x 0.8 x 1.25 mm, so preprocessing resamples to 1 mm (about 410 x 410 x 1250
#                     voxels through the network) and the logits are resampled back slab by slab.
#  3. `/usr/bin/time -v nnuc predict --disable-tta --verbose` per case, each a fresh process: wall time
#     and the maximum resident set size, beside the sizes the case itself implies (the input as f32,
#     the K-channel f32 logits, the uint8 segmentation).
#  4. With PYTHON_NNUNET, the peer on the same model and the same_spacing case: nnUNetPredictor's
#     predict_from_files_sequential (no mirroring, CPU, one process: nnU-Net's lowest-memory way, so
#     its maximum RSS is the whole cost) under /usr/bin/time -v, and the labels compared with nnuc's.
#  5. results.md and the logs in the out folder.
#
# Napkin math (512 x 512 x 1000 = 2.62e8 voxels, K = 3 classes): input f32 1.0 GiB, one f32 channel
# 1.0 GiB, the K logits 2.9 GiB, their weight sum 1.0 GiB; on 2 CPU cores each 128^3 tile of this
# network is ~10 GFLOP forward, 735 tiles at step 0.5.
# Environment: PYTHON (default /usr/bin/python3: nibabel and numpy), THREADS (OMP threads, default all),
# CASES (default "same_spacing resampled"), PEER=0 (no nnU-Net run), KEEP_WORK=1 (keep the model, cases
# and predictions).
set -euo pipefail
nnuc="$(realpath "$1")"
shift
device=cpu
shape=(512 512 1000)
out="bench/results/$(date +%F)-large-volume"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --shape) shape=("$2" "$3" "$4"); shift 4 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
py="${PYTHON:-/usr/bin/python3}"
export OMP_NUM_THREADS="${THREADS:-$(nproc)}" OMP_WAIT_POLICY=passive
mkdir -p "$out"
out="$(realpath "$out")"
work="$(mktemp -d)"
if [ -n "${KEEP_WORK:-}" ]; then echo "work folder: $work"; else trap 'rm -rf "$work"' EXIT; fi
log() { echo "[$(date +%T)] $*" | tee -a "$out/run.log"; }

raw="$work/raw/Dataset961_LargeVolume"
"$nnuc" synth --preset tiny --test-cases 0 -o "$raw" -q >/dev/null
"$nnuc" plan -i "$raw" -o "$work/pp" -c 3d_fullres -np 2 -q >"$work/plan.log" 2>&1 || { cat "$work/plan.log"; exit 1; }
pp="$work/pp/Dataset961_LargeVolume"
"$py" - "$pp/nnUNetPlans.json" <<'EOF'
import json, sys
path = sys.argv[1]
plans = json.load(open(path))
c = plans["configurations"]["3d_fullres"]
c["patch_size"] = [128, 128, 128]
c["batch_size"] = 1
c["architecture"]["arch_kwargs"]["features_per_stage"] = [4, 8, 16, 32][: c["architecture"]["arch_kwargs"]["n_stages"]]
json.dump(plans, open(path, "w"), indent=4)
EOF
baseline="$(dirname "$(realpath "$0")")/baselines/nnunet_predict.py"
if [ -n "${PYTHON_NNUNET:-}" ]; then
  log "planned; nnU-Net's model folder with random weights"
  model="$work/model"
  "$PYTHON_NNUNET" "$baseline" model --plans "$pp/nnUNetPlans.json" --dataset-json "$raw/dataset.json" \
    --configuration 3d_fullres --out "$model" >"$work/model.log" 2>&1 || { tail -20 "$work/model.log"; exit 1; }
else
  log "planned; training 1 epoch x 2 iterations for a checkpoint"
  "$nnuc" train -i "$pp" -c 3d_fullres -f 0 -o "$work/results" --device "$device" --epochs 1 --iters-per-epoch 2 \
    --val-iters 1 --seed 0 --no-final-validation >"$work/train.log" 2>&1 || { tail -20 "$work/train.log"; exit 1; }
  model="$work/results/Dataset961_LargeVolume/nnUNetTrainer__nnUNetPlans__3d_fullres"
fi

"$py" - "$work/in" "${shape[@]}" <<'EOF'
import os, sys
import numpy as np, nibabel as nib
nib.openers.Opener.default_compresslevel = 1
folder, shape = sys.argv[1], tuple(int(s) for s in sys.argv[2:5])
rng = np.random.default_rng(0)
for name, spacing in (("same_spacing", (1.0, 1.0, 1.0)), ("resampled", (0.8, 0.8, 1.25))):
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    data = rng.normal(0, 20, size=shape).astype(np.int16)
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    for _ in range(12):
        centre = [rng.integers(16, s - 16) for s in shape]
        radius = rng.integers(8, 40)
        sphere = sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius ** 2
        data[sphere] += np.int16(200)
    affine = np.diag(list(spacing) + [1.0])
    nib.save(nib.Nifti1Image(data, affine), os.path.join(folder, name, "large_001_0000.nii.gz"))
EOF
log "cases written: ${shape[*]} voxels"

{
  echo "# nnuc predict on one ${shape[0]} x ${shape[1]} x ${shape[2]} volume ($device, $(date +%F))"
  echo
  echo "Machine: $(nproc) CPU cores, $(free -g | awk '/Mem:/ {print $2}') GiB; OMP_NUM_THREADS=$OMP_NUM_THREADS; nnuc $("$nnuc" version | head -1)."
  echo "Network: PlainConvUNet 3d, features 4 8 16 32, patch 128^3, 3 classes, --disable-tta, step 0.5."
  echo
  echo "| case | spacing (mm) | steps (nnuc predict --verbose) | wall | max RSS | input as f32 | K f32 logits |"
  echo "|---|---|---|---:|---:|---:|---:|"
} >"$out/results.md"
voxels=$((shape[0] * shape[1] * shape[2]))
for name in ${CASES:-same_spacing resampled}; do
  log "predicting $name"
  /usr/bin/time -v "$nnuc" predict -i "$work/in/$name" -o "$work/pred_$name" -m "$model" -f 0 --device "$device" \
    --disable-tta --verbose >"$out/$name.log" 2>&1 || { tail -20 "$out/$name.log"; exit 1; }
  rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/$name.log")
  wall=$(awk -F'): ' '/Elapsed \(wall clock\)/ {print $2}' "$out/$name.log")
  steps=$(grep -o 'preprocess [0-9.]* s, network [0-9.]* s ([0-9]* tiles), export [0-9.]* s' "$out/$name.log" | head -1)
  spacing=$([ "$name" = same_spacing ] && echo "1 x 1 x 1" || echo "0.8 x 0.8 x 1.25")
  printf '| %s | %s | %s | %s | %.2f GiB | %.2f GiB | %.2f GiB |\n' "$name" "$spacing" "${steps:-see log}" \
    "$wall" "$(echo "$rss_kib / 1048576" | bc -l)" "$(echo "$voxels * 4 / 2^30" | bc -l)" \
    "$(echo "$voxels * 12 / 2^30" | bc -l)" >>"$out/results.md"
  "$py" - "$work/in/$name/large_001_0000.nii.gz" "$work/pred_$name/large_001.nii.gz" >>"$work/checks.md" <<'EOF'
import sys
import numpy as np, nibabel as nib
image, seg = nib.load(sys.argv[1]), nib.load(sys.argv[2])
assert image.shape == seg.shape, (image.shape, seg.shape)
assert np.allclose(image.affine, seg.affine), (image.affine, seg.affine)
labels, counts = np.unique(np.asarray(seg.dataobj), return_counts=True)
print(f"- {sys.argv[2].split('/')[-2]}: output {seg.shape} {seg.get_data_dtype()}, geometry equal to the input; "
      f"label voxels {dict(zip(labels.tolist(), counts.tolist()))}")
EOF
done
if [ -n "${PYTHON_NNUNET:-}" ] && [ "${PEER:-1}" = 1 ] && [ -d "$work/pred_same_spacing" ]; then
  log "nnU-Net: predict_from_files_sequential on same_spacing"
  /usr/bin/time -v "$PYTHON_NNUNET" - "$model" "$work/in/same_spacing" "$work/nnunet_same_spacing" "$OMP_NUM_THREADS" \
    >"$out/nnunet_same_spacing.log" 2>&1 <<'PY' || { tail -30 "$out/nnunet_same_spacing.log"; exit 1; }
import os, sys, time
import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
model, images, output, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(threads)
predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                            perform_everything_on_device=False, device=torch.device("cpu"), verbose=False,
                            allow_tqdm=False)
predictor.initialize_from_trained_model_folder(model, use_folds=(0,), checkpoint_name="checkpoint_final.pth")
os.makedirs(output, exist_ok=True)  # predict_from_files_sequential writes into it without creating it
start = time.time()
predictor.predict_from_files_sequential(images, output, save_probabilities=False, overwrite=True)
print(f"nnU-Net predict_from_files_sequential: {time.time() - start:.1f} s")
PY
  rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/nnunet_same_spacing.log")
  wall=$(awk -F'): ' '/Elapsed \(wall clock\)/ {print $2}' "$out/nnunet_same_spacing.log")
  version=$("$PYTHON_NNUNET" -c 'import importlib.metadata as m; print(m.version("nnunetv2"), m.version("torch"))')
  printf '| same_spacing, nnU-Net %s (predict_from_files_sequential) | 1 x 1 x 1 | see nnunet_same_spacing.log | %s | %.2f GiB | | |\n' \
    "$version" "$wall" "$(echo "$rss_kib / 1048576" | bc -l)" >>"$out/results.md"
  "$PYTHON_NNUNET" "$baseline" compare --reference "$work/nnunet_same_spacing" --candidate "$work/pred_same_spacing" \
    --dataset-json "$model/dataset.json" >"$out/compare_same_spacing.json" 2>&1 || true
  echo "- nnU-Net vs nnuc, same model and case: $(tail -n 1 "$out/compare_same_spacing.json")" >>"$work/checks.md"
fi
{
  echo
  cat "$work/checks.md"
} >>"$out/results.md"
log "done: $out/results.md"
cat "$out/results.md"
