#!/usr/bin/env bash
# nnuc's training iteration vs nnU-Net's own trainer on the CPU, same machine, same threads, one after
# the other in one run: bench/nn/training_iteration_bench.cpp (train_iteration/cpu/*: loader threads,
# augmentation, step) beside bench/baselines/nnunet_train_iterations.py (nnunetv2's nnUNetTrainer:
# next(dataloader_train) + train_step) on the tiny synthetic dataset's 2d and 3d_fullres plans, which
# nnU-Net and nnuc plan identically (2d: batch 7 of 32², 3d_fullres: batch 2 of 40×32×32, 4 stages).
# Writes bench/results/<date>-cpu-train-iteration.md.
#   PYTHON=/path/to/venv/bin/python  (needs nnunetv2, which pulls torch)
#   THREADS=N (default: all cores)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-$root/build}"
python="${PYTHON:-python3}"
threads="${THREADS:-$(nproc)}"
date="$(date -u +%Y-%m-%d)"
out="$root/bench/results/$date-cpu-train-iteration.md"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS="$threads" OMP_WAIT_POLICY=passive

"$build/tools/nnuc" synth --preset tiny -o "$tmp/raw/Dataset900_Tiny" >/dev/null
echo "== nnuc: train_iteration/cpu ($threads threads)"
"$build/bench/nn/nnuc_nn_bench" --benchmark_filter='train_iteration/cpu' --benchmark_out="$tmp/nnuc.json" \
  --benchmark_out_format=json >/dev/null
for configuration in 2d 3d_fullres; do
  iterations=20
  [ "$configuration" = 3d_fullres ] && iterations=5
  echo "== nnU-Net: nnUNetTrainer $configuration"
  "$python" "$root/bench/baselines/nnunet_train_iterations.py" --raw "$tmp/raw" --work "$tmp/work" \
    --configuration "$configuration" --iterations "$iterations" --threads "$threads" --processes 0 \
    2>/dev/null | tail -n 1 >"$tmp/nnunet_$configuration.json"
done

python3 - "$tmp" "$out" "$threads" <<'PY'
import json, sys
tmp, out, threads = sys.argv[1], sys.argv[2], sys.argv[3]
ours = {b["name"].split("/")[2]: b for b in json.load(open(f"{tmp}/nnuc.json"))["benchmarks"]
        if b.get("run_type") != "aggregate"}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
lines = [f"# One training iteration: nnuc vs nnU-Net's nnUNetTrainer on the CPU — {cpu}, {threads} threads", "",
         "bench/run_train_comparison.sh, one run, one after the other. An iteration = the next batch (loading,",
         "cropping, augmentation) + the training step (forward, deep-supervision Dice + CE, backward, clip, SGD).",
         "nnU-Net: nnUNet_n_proc_DA=0 (augmentation in the training process, between steps); nnuc: its loader's",
         "worker threads prepare batches ahead, so data_ms is the wait for a ready batch plus its augmentation.", "",
         "| configuration | nnuc ms/it | nnuc data ms | nnU-Net ms/it | nnU-Net data ms | nnU-Net / nnuc |",
         "|---|---:|---:|---:|---:|---:|"]
for configuration, key in (("2d", "2d_32x32_b7"), ("3d_fullres", "3d_40x32x32_b2")):
    peer = json.loads(open(f"{tmp}/nnunet_{configuration}.json").read())
    mine = ours[key]
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[mine["time_unit"]]
    ms = mine["real_time"] * scale
    lines.append(f"| {configuration} (batch {peer['batch']}, patch {'×'.join(map(str, peer['patch']))}) | {ms:.1f} | "
                 f"{mine['data_ms']:.1f} | {peer['iteration_ms']:.1f} | {peer['data_ms']:.1f} | {peer['iteration_ms'] / ms:.2f} |")
lines += ["", f"nnU-Net: nnunetv2 {peer['nnunetv2']}, torch {peer['torch']} (CPU)."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
