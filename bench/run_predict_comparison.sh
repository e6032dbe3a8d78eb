#!/usr/bin/env bash
# End-to-end inference: `nnuc predict` vs nnU-Net's own nnUNetPredictor.predict_from_files, on the same
# model folder and the same cases, one after the other in one run, on the CPU or on a CUDA device.
#
#   bench/run_predict_comparison.sh NNUC_BINARY [--device cpu|cuda] [--size small|large] [--out DIR]
#
#  1. `nnuc synth` writes a dataset and `nnuc plan --no_pp` plans it with nnU-Net's memory model and
#     budget (the plans nnU-Net itself would make; the same on every machine):
#       small: the tiny preset, 3 test cases of ~32^3 (a few minutes on 2 CPU cores)
#       large: the spleen preset (CT, 0.61-0.98 x 1.5-8 mm spacings, so every case is resampled),
#              4 training and 3 test cases of 96 x 256 x 256 voxels (under 3 minutes on an H200)
#  2. bench/baselines/nnunet_predict.py model: an nnU-Net model folder for 3d_fullres built by
#     nnunetv2's own code with random weights from a fixed seed (fold_0/checkpoint_final.pth with
#     nnUNetTrainer.save_checkpoint's keys; NibabelIO as reader/writer).
#  3. nnunet_predict.py predict: nnUNetPredictor.predict_from_files over the test cases after one
#     warm-up case (not timed), one run each: tta (mirroring), notta (--disable_tta), probabilities
#     (mirroring, --save_probabilities), and on the CPU probabilities_f32 (the same with nnU-Net's fp16
#     accumulation buffers made f32, as nnuc's: isolates that one documented difference); the worker
#     processes of nnUNetv2_predict (-npp 3 -nps 3).
#  4. `nnuc predict -m MODEL -i IMAGES -o OUT -f 0 --device D --verbose` for tta, notta, probabilities
#     (probabilities_f32 is compared with nnuc's probabilities run); each run is a fresh process, so its
#     seconds include loading the model and starting the device.
#  5. nnunet_predict.py compare, per run and case: fraction of voxels whose label differs, Dice per
#     label between the two segmentations, and (probabilities runs) the largest |p_nnU-Net - p_nnuc|.
#  6. One Markdown table (comparison.md) and everything measured (comparison.json) in the out folder.
#
# Options: --device (default cuda when nvidia-smi sees a GPU, else cpu); --size (default large on cuda,
# small on cpu); --out (default $OUT when set, else bench/results/<date>-predict-<device>-<size>).
# Environment: PYTHON (default python3; needs torch, and nnunetv2 or the wheels in .whl/, which are
# then installed into a temporary folder: nnunetv2, acvl_utils, batchgenerators(v2), blosc2,
# dynamic_network_architectures, ndindex, nibabel, yacs, graphviz), THREADS (CPU threads for nnuc,
# default all cores), NPP/NPS (nnU-Net's preprocessing/export processes, default 3/3), KEEP_WORK=1
# (keep the datasets and predictions), NNUC_BENCH_BLOCK_MODULES (nnunet_predict.py's import test),
# RUNS (default "tta notta probabilities", plus probabilities_f32 on the CPU), SYNTH (nnuc synth's
# options instead of the size's, e.g. "--preset spleen --cases 4 --test-cases 2 --shape 48 128 128").
# The binary's missing shared libraries (a gpu-bundle/bin/nnuc on a bare GPU machine) are looked up in
# its ../lib and in the Python environment's NVIDIA packages.
#
# On the H200 machine (python3 with torch, no nnunetv2, no SimpleITK): carry .whl and a bundle holding
# nnuc (scripts/build_gpu_bundle.sh makes gpu-bundle/), then
#   bench/run_predict_comparison.sh gpu-bundle/bin/nnuc --device cuda --size large --out "$OUT"
# Estimated (not yet run there): under 3 minutes; 6 files come back (comparison.md/.json, nnunet.log, nnuc_<run>.log).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { sed -n '5p' "$0" | sed 's/^#  *//' >&2; exit 2; }
[ $# -ge 1 ] || usage
nnuc="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shift
[ -x "$nnuc" ] || { echo "not an executable: $nnuc" >&2; exit 2; }
device="" size="" out=""
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) usage ;;
  esac
done
if [ -z "$device" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then device=cuda; else device=cpu; fi
fi
[ -n "$size" ] || { [ "$device" = cuda ] && size=large || size=small; }
case "$device/$size" in cpu/small | cpu/large | cuda/small | cuda/large) ;; *) usage ;; esac
out="${out:-${OUT:-$root/bench/results/$(date -u +%Y-%m-%d)-predict-$device-$size}}"
mkdir -p "$out"
python="${PYTHON:-python3}"
threads="${THREADS:-$(nproc)}"
npp="${NPP:-3}" nps="${NPS:-3}"
default_runs="tta notta probabilities"
[ "$device" = cpu ] && default_runs+=" probabilities_f32"
read -r -a runs <<< "${RUNS:-$default_runs}"
nnuc_run_of() { [ "$1" = probabilities_f32 ] && echo probabilities || echo "$1"; }
nnuc_runs=()
for run in "${runs[@]}"; do
  name=$(nnuc_run_of "$run")
  [[ " ${nnuc_runs[*]} " == *" $name "* ]] || nnuc_runs+=("$name")
done
work="$(mktemp -d)"
[ "${KEEP_WORK:-0}" = 1 ] && echo "work folder (kept): $work" || trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS="$threads" OMP_WAIT_POLICY=passive PYTHONUNBUFFERED=1
baseline="$root/bench/baselines/nnunet_predict.py"
start=$SECONDS
steps="$work/steps.txt"
: > "$steps"
step() { echo "$1 $((SECONDS - step_begin))" >> "$steps"; echo "== $1: $((SECONDS - step_begin)) s (total $((SECONDS - start)) s)"; }

# nnunetv2 from the carried wheels where it is not installed.
step_begin=$SECONDS
if ! "$python" -c 'import nnunetv2' 2>/dev/null; then
  compgen -G "$root/.whl/*.whl" >/dev/null || { echo "$python has no nnunetv2 and $root/.whl holds no wheels" >&2; exit 2; }
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" "$root"/.whl/*.whl
  export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
  step "install nnunetv2 wheels"
fi
# Shared libraries the binary lacks here: its bundle's ../lib, then the Python environment's NVIDIA
# packages and the CUDA toolkit.
missing=$(ldd "$nnuc" 2>/dev/null | awk '/not found/ {print $1}' | sort -u)
if [ -n "$missing" ]; then
  site=$("$python" -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true)
  roots="$(dirname "$nnuc")/../lib $site /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib"
  for library in $missing; do
    found=$(find $roots -name "$library" \( -type f -o -type l \) -print -quit 2>/dev/null || true)
    [ -n "$found" ] && LD_LIBRARY_PATH="$(cd "$(dirname "$found")" && pwd)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
  export LD_LIBRARY_PATH
  still=$(ldd "$nnuc" | awk '/not found/ {print $1}' | tr '\n' ' ')
  [ -z "$still" ] || { echo "$nnuc: shared libraries not found: $still" >&2; exit 2; }
fi
"$nnuc" version | tee "$work/nnuc_version.txt"

# 1. Dataset and plans.
step_begin=$SECONDS
raw="$work/raw/Dataset990_PredictBench"
if [ -n "${SYNTH:-}" ]; then
  read -r -a synth <<< "$SYNTH"
elif [ "$size" = small ]; then
  synth=(--preset tiny --cases 5 --test-cases 3)
else
  synth=(--preset spleen --cases 4 --test-cases 3 --shape 96 256 256)
fi
"$nnuc" synth "${synth[@]}" -o "$raw" -q
"$nnuc" plan -i "$raw" -o "$work/preprocessed" --no_pp -c 3d_fullres --memory-model nnunet -gpu_memory_target 8 -q
step "synth + plan"

# 2. The model folder, by nnU-Net's code.
step_begin=$SECONDS
model="$work/model"
"$python" "$baseline" model --plans "$work/preprocessed/Dataset990_PredictBench/nnUNetPlans.json" \
  --dataset-json "$raw/dataset.json" --configuration 3d_fullres --out "$model" | tail -n 1 | tee "$work/model.json"
step "nnU-Net model folder"

# 3. nnU-Net.
step_begin=$SECONDS
echo "== nnU-Net: nnUNetPredictor.predict_from_files ($device, -npp $npp -nps $nps)"
"$python" "$baseline" predict --model "$model" --input "$raw/imagesTs" --out "$work/nnunet" --device "$device" \
  --runs "${runs[@]}" --npp "$npp" --nps "$nps" > "$out/nnunet.log" 2>&1 || {
  tail -n 40 "$out/nnunet.log"; echo "nnU-Net's prediction failed" >&2; exit 1; }
tail -n 1 "$out/nnunet.log" > "$work/nnunet.json"
step "nnU-Net predict (warm-up + ${#runs[@]} runs)"

# 4. nnuc: one process per run.
status=0
: > "$work/nnuc_runs.txt"
for run in "${nnuc_runs[@]}"; do
  step_begin=$SECONDS
  flags=()
  [ "$run" = notta ] && flags+=(--disable-tta)
  [ "$run" = probabilities ] && flags+=(--save-probabilities)
  begin=$(date +%s.%N)
  if "$nnuc" predict -m "$model" -i "$raw/imagesTs" -o "$work/nnuc/$run" -f 0 --device "$device" --verbose \
    "${flags[@]}" > "$out/nnuc_$run.log" 2>&1; then rc=0; else rc=$?; status=1; fi
  end=$(date +%s.%N)
  echo "$run $begin $end $rc" >> "$work/nnuc_runs.txt"
  cat "$out/nnuc_$run.log"
  step "nnuc predict $run (exit $rc)"
done

# 5. Agreement.
step_begin=$SECONDS
for run in "${runs[@]}"; do
  extra=()
  [[ $run == probabilities* ]] && extra+=(--probabilities)
  "$python" "$baseline" compare --reference "$work/nnunet/$run" --candidate "$work/nnuc/$(nnuc_run_of "$run")" \
    --dataset-json "$model/dataset.json" "${extra[@]}" > "$work/compare_$run.json" || status=1
done
step "compare"

# 6. Report.
"$python" - "$work" "$out" "$device" "$size" "$threads" <<'PY' || status=1
import json, os, re, sys
work, out, device, size, threads = sys.argv[1:6]
peer = json.load(open(f"{work}/nnunet.json"))
model = json.load(open(f"{work}/model.json"))
version = open(f"{work}/nnuc_version.txt").read().strip()
runs = list(peer["runs"])
mine = {}
for line in open(f"{work}/nnuc_runs.txt"):
    run, begin, end, rc = line.split()
    cases = {}
    for text in open(f"{out}/nnuc_{run}.log"):
        m = re.match(r"\[\d+/\d+\] (\S+): preprocess ([\d.]+) s, network ([\d.]+) s \((\d+) tiles?\), export ([\d.]+) s", text)
        if m:
            cases[m.group(1)] = {"preprocess_s": float(m.group(2)), "network_s": float(m.group(3)),
                                 "tiles": int(m.group(4)), "export_s": float(m.group(5))}
    mine[run] = {"total_s": float(end) - float(begin), "exit": int(rc), "cases": cases}
agreement = {}
for run in runs:
    try:
        agreement[run] = json.load(open(f"{work}/compare_{run}.json"))
    except (OSError, ValueError):
        agreement[run] = {"cases": []}
steps = [line.split() for line in open(f"{work}/steps.txt")]
ids = peer["cases"]
n = len(ids)

def fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"

lines = [f"# nnuc predict vs nnU-Net's nnUNetPredictor — {peer['device']} ({device}, {size})", "",
         "bench/run_predict_comparison.sh: same model folder (3d_fullres, nnU-Net's PlainConvUNet with random",
         "weights, fold_0/checkpoint_final.pth written by torch.save), same cases, one after the other in one run.",
         f"nnU-Net: nnunetv2 {peer['nnunetv2']}, torch {peer['torch']}"
         + (f", cuDNN {peer['cudnn']}" if peer.get("cudnn") else "")
         + f", predict_from_files with -npp {peer['npp']} -nps {peer['nps']}, after loading the model and one warm-up case"
         + f" (import {peer['import_s']:.1f} s, load {peer['load_s']:.1f} s, warm-up {peer['warmup_s']:.1f} s, not counted).",
         f"nnuc: {version}; one process per run, so its seconds include reading the model and starting the device."
         + (f" {threads} threads." if device == "cpu" else ""),
         f"Patch {'×'.join(map(str, peer['patch']))}, step 0.5, mirror axes {peer['mirror_axes']}, {model['parameters'] / 1e6:.1f} M parameters,"
         f" {n} case(s).", "",
         "| run | nnU-Net s/case | nnuc s/case | nnU-Net / nnuc | network s/case nnU-Net | network s/case nnuc"
         " | voxels differing (max) | Dice per label between the two (min) | abs Δ probability: max (mean, worst case) |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
summary = {}
for run in runs:
    p, m, a = peer["runs"][run], mine.get(run), agreement[run]  # probabilities_f32: no nnuc run of its own
    p_case = p["total_s"] / n
    m_case = m["total_s"] / n if m and m["exit"] == 0 else None
    p_net = sum(c["network_s"] for c in p["cases"]) / n
    m_net = sum(c["network_s"] for c in m["cases"].values()) / n if m and len(m["cases"]) == n else None
    ok = [c for c in a["cases"] if "differing_fraction" in c]
    differing = max((c["differing_fraction"] for c in ok), default=None)
    dice = [d for c in ok for d in c["dice"].values() if d is not None]
    dp = [c["probabilities_max_abs_diff"] for c in ok if "probabilities_max_abs_diff" in c]
    dp_mean = [c["probabilities_mean_abs_diff"] for c in ok if "probabilities_mean_abs_diff" in c]
    errors = [f"{c['id']}: {c.get('error') or c.get('probabilities_error')}" for c in a["cases"]
              if "error" in c or "probabilities_error" in c]
    summary[run] = {"nnunet_s_per_case": p_case, "nnuc_s_per_case": m_case, "nnunet_network_s_per_case": p_net,
                    "nnuc_network_s_per_case": m_net, "max_differing_fraction": differing,
                    "min_dice": min(dice) if dice else None, "max_abs_probability_diff": max(dp) if dp else None,
                    "mean_abs_probability_diff": max(dp_mean) if dp_mean else None,
                    "errors": errors}
    probability = ""
    if run.startswith("probabilities"):
        probability = f"{max(dp):.2e} ({max(dp_mean):.1e})" if dp else "—"
    lines.append(f"| {run} | {p_case:.2f} | {fmt(m_case)} | {fmt(p_case / m_case if m_case else None)} | {p_net:.2f} | "
                 f"{fmt(m_net)} | {fmt(100 * differing if differing is not None else None, 3)} % | "
                 f"{fmt(min(dice) if dice else None, 4)} | {probability} |")
first = runs[0]
lines += ["", f"| case | image (nibabel order) | preprocessed | tiles | nnU-Net network s ({first}) | nnuc network s ({first}) |"
          f" voxels differing {' / '.join(runs)} |", "|---|---|---|---:|---:|---:|---|"]
for case in ids:
    shape = next((c.get("shape") for c in agreement[first]["cases"] if c["id"] == case), None)
    pc = next((c for c in peer["runs"][first]["cases"] if c["id"] == case), {})
    mc = mine.get(first, {}).get("cases", {}).get(case, {})
    diffs = []
    for run in runs:
        c = next((c for c in agreement[run]["cases"] if c["id"] == case), {})
        diffs.append(f"{100 * c['differing_fraction']:.3f} %" if "differing_fraction" in c else c.get("error", "—"))
    lines.append(f"| {case} | {'×'.join(map(str, shape)) if shape else '—'} | {'×'.join(map(str, pc.get('preprocessed_shape', [])))} | "
                 f"{mc.get('tiles', '—')} | {fmt(pc.get('network_s'))} | {fmt(mc.get('network_s'))} | {' / '.join(diffs)} |")
failures = [f"nnuc predict {run} exited with {m['exit']} (nnuc_{run}.log)" for run, m in mine.items() if m["exit"]]
failures += [f"{run}: {e}" for run, s in summary.items() for e in s["errors"]]
if peer.get("stub_accesses"):
    failures.append(f"stubbed modules were used: {peer['stub_accesses']}")
lines += ["", "s/case = the run's wall-clock seconds / cases (read, preprocess, sliding window, export, write)."
          " Network = the sliding window of one case incl. mirroring (nnU-Net: predict_logits_from_preprocessed_data"
          " with the logits back on the host; nnuc: its --verbose network seconds).",
          "Steps (s): " + ", ".join(f"{' '.join(s[:-1])} {s[-1]}" for s in steps)]
if "probabilities_f32" in runs:
    lines.append("probabilities_f32: nnU-Net with its sliding window's accumulation buffers in f32 (nnuc's choice,"
                 " nn/predict/sliding_window.h) instead of fp16, against nnuc's probabilities run; it isolates the"
                 " share of the difference that nnU-Net's fp16 buffers cause (no seconds of its own for nnuc).")
if peer.get("stubbed"):
    lines.append(f"Stub modules for nnunetv2's import (never used): {', '.join(peer['stubbed'])}.")
if failures:
    lines += ["", "**Failures:** " + "; ".join(failures)]
text = "\n".join(lines) + "\n"
open(f"{out}/comparison.md", "w").write(text)
json.dump({"device": device, "size": size, "threads": int(threads), "nnuc_version": version, "model": model,
           "nnunet": peer, "nnuc": mine, "agreement": agreement, "summary": summary, "steps": steps},
          open(f"{out}/comparison.json", "w"), indent=1)
print(text)
sys.exit(1 if failures else 0)
PY
echo "== done in $((SECONDS - start)) s (status $status): $out/comparison.md"
exit $status
