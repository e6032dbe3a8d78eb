#!/usr/bin/env bash
# The host-side steps of prediction, nnuc beside nnU-Net, step by step on the CPU: reading +
# preprocessing (transpose, crop, normalize, resample to the plans' spacing) and export (resample the
# logits back, argmax, un-crop, un-transpose, write NIfTI). On a GPU these steps run on the host while
# the network runs on the device, so they bound the end-to-end throughput of both predictors.
#
#   PYTHON_NNUNET=/path/to/python bench/run_predict_stages.sh NNUC_BINARY [--threads "1 2"] [--out DIR]
#
#  1. `nnuc synth --preset spleen --cases 4 --test-cases 3 --shape 96 256 256` (CT, anisotropic
#     spacings, so every case is resampled; the "large" cases of bench/run_predict_comparison.sh) and
#     `nnuc plan --no_pp --memory-model nnunet` (the plans nnU-Net itself makes). The 3d_fullres
#     network is then made small (features 4 8 16 32 ..., the same stages and patch): the network is not
#     what this measures, and the small one keeps the CPU run short.
#  2. bench/baselines/nnunet_predict.py model: nnU-Net's model folder with random weights.
#  3. Per thread count T: nnunet_predict.py stages (predict_from_files_sequential's steps timed one by
#     one in one process, torch.set_num_threads(T)) and `OMP_NUM_THREADS=T nnuc predict --sequential
#     --disable-tta --verbose` (each case's steps one after the other, nothing overlapped).
#  4. The two label maps compared (nnunet_predict.py compare), stages.md and the raw JSON in the out folder.
#
# Napkin math per case: 96 x 256 x 256 int16 = 12.6 MB on disk before gzip, 25 MB as f32; resampled
# to about 1.5x the voxels (37 MB f32) with third-order splines in-plane and nearest/linear along z;
# the logits (2 classes) 75 MB f32 resampled back with first-order splines.
# Environment: PYTHON (default /usr/bin/python3, with nibabel and numpy), PYTHON_NNUNET (torch + nnunetv2),
# KEEP_WORK=1 (keep the dataset, the model folder and the predictions).
set -euo pipefail
nnuc="$(realpath "$1")"
shift
threads_list="1 2"
out="bench/results/$(date +%F)-predict-stages-cpu"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads_list="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
: "${PYTHON_NNUNET:?set PYTHON_NNUNET to an interpreter with torch and nnunetv2}"
py="${PYTHON:-/usr/bin/python3}"
baseline="$(dirname "$(realpath "$0")")/baselines/nnunet_predict.py"
mkdir -p "$out"
out="$(realpath "$out")"
work="$(mktemp -d)"
if [ -n "${KEEP_WORK:-}" ]; then echo "work folder: $work"; else trap 'rm -rf "$work"' EXIT; fi
log() { echo "[$(date +%T)] $*" | tee -a "$out/run.log"; }

raw="$work/raw/Dataset962_PredictStages"
"$nnuc" synth --preset spleen --cases 4 --test-cases 3 --shape 96 256 256 -o "$raw" -q >/dev/null
"$nnuc" plan -i "$raw" -o "$work/pp" --no_pp -c 3d_fullres --memory-model nnunet -gpu_memory_target 8 -q
plans="$work/pp/Dataset962_PredictStages/nnUNetPlans.json"
"$py" - "$plans" <<'EOF'
import json, sys
plans = json.load(open(sys.argv[1]))
arch = plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]
arch["features_per_stage"] = [min(4 << s, 32) for s in range(arch["n_stages"])]
json.dump(plans, open(sys.argv[1], "w"), indent=4)
EOF
"$PYTHON_NNUNET" "$baseline" model --plans "$plans" --dataset-json "$raw/dataset.json" --configuration 3d_fullres \
  --out "$work/model" >"$work/model.log" 2>&1 || { tail -20 "$work/model.log"; exit 1; }
log "synth + plan + nnU-Net model folder"

for threads in $threads_list; do
  OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive "$PYTHON_NNUNET" "$baseline" stages --model "$work/model" \
    --input "$raw/imagesTs" --out "$work/nnunet_$threads" --threads "$threads" 2>"$work/nnunet_$threads.log" |
    tail -n 1 >"$out/nnunet_t$threads.json" || { tail -20 "$work/nnunet_$threads.log"; exit 1; }
  log "nnU-Net, $threads thread(s)"
  OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive "$nnuc" predict -i "$raw/imagesTs" -o "$work/nnuc_$threads" \
    -m "$work/model" -f 0 --device cpu --disable-tta --sequential --verbose >"$out/nnuc_t$threads.log" 2>&1 ||
    { tail -20 "$out/nnuc_t$threads.log"; exit 1; }
  log "nnuc, $threads thread(s)"
  "$PYTHON_NNUNET" "$baseline" compare --reference "$work/nnunet_$threads" --candidate "$work/nnuc_$threads" \
    --dataset-json "$raw/dataset.json" | tail -n 1 >"$out/compare_t$threads.json"
done

"$py" - "$out" "$threads_list" "$("$nnuc" version | head -1)" <<'EOF' >"$out/stages.md"
import json, os, re, sys, datetime
out, threads_list, nnuc_version = sys.argv[1], sys.argv[2].split(), sys.argv[3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# Prediction's host-side steps, nnuc vs nnU-Net, on the CPU ({datetime.date.today()})\n")
print(f"{cpu}, {os.cpu_count()} cores; {nnuc_version}; bench/run_predict_stages.sh. Spleen-like CT, "
      "3 cases of 96 x 256 x 256, every case resampled. Seconds per case, each step alone "
      "(nnU-Net: predict_from_files_sequential's steps in one process; nnuc: predict --sequential).\n")
print("| threads | case | preprocessed shape | preprocess nnU-Net | preprocess nnuc | ratio | export nnU-Net | export nnuc | ratio | network nnU-Net | network nnuc | ratio | labels differing |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
line = re.compile(r"\] (\S+): preprocess ([0-9.]+) s, network ([0-9.]+) s \((\d+) tiles\), export ([0-9.]+) s")
for t in threads_list:
    theirs = json.load(open(f"{out}/nnunet_t{t}.json"))
    ours = {m.group(1): m for m in map(line.search, open(f"{out}/nnuc_t{t}.log")) if m}
    compare = {c["id"]: c for c in json.load(open(f"{out}/compare_t{t}.json"))["cases"]}
    for case in theirs["cases"]:
        m = ours[case["id"]]
        pre, net, exp = float(m.group(2)), float(m.group(3)), float(m.group(5))
        print(f"| {t} | {case['id']} | {' x '.join(map(str, case['preprocessed_shape']))} | "
              f"{case['preprocess_s']:.2f} | {pre:.2f} | {case['preprocess_s'] / pre:.2f} | "
              f"{case['export_s']:.2f} | {exp:.2f} | {case['export_s'] / exp:.2f} | "
              f"{case['network_s']:.2f} | {net:.2f} | {case['network_s'] / net:.2f} | "
              f"{compare[case['id']]['differing_fraction']:.2e} |")
print("\nratio = nnU-Net seconds / nnuc seconds (above 1: nnuc is faster). The network is the plans' "
      "topology with 4-8-16-32 features (not the planned 32-64-...), no mirroring, f32 on the CPU.")
EOF
log "done: $out/stages.md"
cat "$out/stages.md"
