#!/usr/bin/env bash
# nnuc vs PyTorch on the CPU, same machine, same threads, one after the other in one run:
#   1. kernel benchmarks (bench/kernels) beside bench/baselines/torch_kernels.py, joined by name;
#   2. one training step of the default 3-D U-Net at a small patch (bench/nn) beside
#      bench/baselines/torch_unet_step.py (PyTorch in its default NCDHW layout and in channels_last_3d).
# Writes bench/results/<date>-cpu-<host>.md (and the raw JSON beside it).
#   PYTHON=/path/to/venv/bin/python  (needs torch; default: python3)
#   FILTER=regex                     kernel benchmarks to run (default: 3-D conv, transposed conv and
#                                    fused instance norm on the 3-D stage shapes)
#   THREADS=N                        (default: all cores)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-$root/build}"
python="${PYTHON:-python3}"
threads="${THREADS:-$(nproc)}"
filter="${FILTER:-^(conv3d_(fwd|bwd_data|bwd_weight)|conv_transpose_(fwd|bwd_data|bwd_weight)|instance_norm_lrelu_(fwd|bwd))/cpu/}"
date="$(date -u +%Y-%m-%d)"
out="$root/bench/results/$date-cpu-$(hostname -s)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS="$threads"

echo "== kernels: nnuc ($threads threads)"
"$build/bench/kernels/nnuc_kernel_bench" --benchmark_filter="$filter" --benchmark_out="$tmp/ours.json" \
  --benchmark_out_format=json >/dev/null
echo "== kernels: PyTorch"
"$python" "$root/bench/baselines/torch_kernels.py" --device cpu --filter "$filter" --threads "$threads" \
  --out "$tmp/peer.json" >/dev/null
python3 "$root/bench/compare.py" --ours "$tmp/ours.json" --peer "$tmp/peer.json" --out "$tmp/kernels.md" >/dev/null

echo "== training step: nnuc"
"$build/bench/nn/nnuc_nn_bench" --benchmark_filter='unet_step/cpu' --benchmark_out="$tmp/step.json" \
  --benchmark_out_format=json >/dev/null
echo "== training step: PyTorch"
"$python" "$root/bench/baselines/torch_unet_step.py" --device cpu --patch 32 32 32 --batch 2 \
  --threads "$threads" --steps 5 >"$tmp/torch_step.json"
"$python" "$root/bench/baselines/torch_unet_step.py" --device cpu --patch 32 32 32 --batch 2 \
  --threads "$threads" --steps 5 --channels-last >"$tmp/torch_step_cl.json"

python3 - "$tmp" "$out.md" "$threads" <<'PY'
import json, sys, platform
tmp, out, threads = sys.argv[1], sys.argv[2], sys.argv[3]
step = [b for b in json.load(open(f"{tmp}/step.json"))["benchmarks"] if b.get("run_type") != "aggregate"][0]
scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[step["time_unit"]]
ours_ms = step["real_time"] * scale
torch_rows = [json.loads(open(f"{tmp}/{n}.json").read().strip().splitlines()[-1]) for n in ("torch_step", "torch_step_cl")]
cpu = "unknown CPU"
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except Exception:
    pass
lines = [f"# nnuc vs PyTorch on the CPU — {cpu}, {threads} threads", "",
         "Measured one after the other in one run of bench/run_cpu_comparison.sh; peer/nnuc > 1 means nnuc is faster.", "",
         "## One training step, default 3-D U-Net (4 stages at 32³), batch 2, f32", "",
         "| | step ms | PyTorch / nnuc |", "|---|---:|---:|",
         f"| nnuc (channels-last) | {ours_ms:.1f} | |"]
for row, layout in zip(torch_rows, ("NCDHW", "channels_last_3d")):
    lines.append(f"| PyTorch {row['torch']} ({layout}) | {row['step_ms']:.1f} | {row['step_ms'] / ours_ms:.2f} |")
lines += ["", "## Kernels", ""]
kernels = open(f"{tmp}/kernels.md").read().splitlines()
lines += [l for l in kernels if not l.startswith("# ")]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
cp "$tmp/ours.json" "$out-nnuc.json"; cp "$tmp/peer.json" "$out-torch.json"
echo "written: $out.md"
