#!/usr/bin/env python3
"""The layout measurement behind kernels/README.md: cuDNN's 3-D convolutions (through PyTorch) in NCDHW
and in NDHWC (channels_last_3d), bf16 and f32, on the default 3-D U-Net stage shapes (batch 2,
3x3x3, padding 1, C_in = C_out = C; the same shapes as bench/kernels/conv_bench.cpp).

Times forward + backward-data + backward-weight of one convolution (torch.autograd with both the
input and the weight requiring gradients), cudnn.benchmark on, TF32 off, CUDA events, median.

  python3 torch_conv_layout.py [--min-time 0.2] [--out layout.json]

Napkin math per stage: FLOPs of one pass = 2 * N * D * H * W * 27 * C^2; the three passes do 3x that
(s0: 2 x 128^3 x 32 -> 232 GFLOP per pass at batch 2).
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F

# bench/kernels/bench_support.cpp stages_3d(): (spatial edge, channels)
STAGES = [("s0_128x32", 128, 32), ("s1_64x64", 64, 64), ("s2_32x128", 32, 128), ("s3_16x256", 16, 256),
          ("s4_8x320", 8, 320), ("s5_4x320", 4, 320)]


def time_step(x, w, min_time):
    def step():
        y = F.conv3d(x, w, padding=1)
        gx, gw = torch.autograd.grad(y, (x, w), y)
        return gx, gw

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times, total = [], 0.0
    while total < min_time * 1e3 or len(times) < 5:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
        total += times[-1]
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds of timed steps per case")
    ap.add_argument("--out")
    args = ap.parse_args()
    assert torch.cuda.is_available(), "needs a CUDA device"
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = []
    print("| stage | dtype | NCDHW ms | NDHWC ms | NCDHW / NDHWC |")
    print("|---|---|---:|---:|---:|")
    for name, edge, c in STAGES:
        for dtype in (torch.bfloat16, torch.float32):
            result = {"stage": name, "dtype": str(dtype).replace("torch.", "")}
            for layout, fmt in (("ncdhw", torch.contiguous_format), ("ndhwc", torch.channels_last_3d)):
                x = torch.randn(2, c, edge, edge, edge, device="cuda", dtype=dtype).to(memory_format=fmt)
                w = torch.randn(c, c, 3, 3, 3, device="cuda", dtype=dtype).to(memory_format=fmt) * 0.05
                x.requires_grad_(True)
                w.requires_grad_(True)
                result[layout + "_ms"] = time_step(x, w, args.min_time)
                del x, w
            rows.append(result)
            print(f"| {name} | {result['dtype']} | {result['ncdhw_ms']:.3f} | {result['ndhwc_ms']:.3f} | "
                  f"{result['ncdhw_ms'] / result['ndhwc_ms']:.2f} |", flush=True)
    context = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
               "cudnn": torch.backends.cudnn.version()}
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"context": context, "results": rows}, f, indent=1)


if __name__ == "__main__":
    main()
