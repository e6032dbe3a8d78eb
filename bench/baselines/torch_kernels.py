#!/usr/bin/env python3
"""PyTorch peer of nnuc's kernel benchmarks (bench/kernels/*_bench.cpp): the same benchmark names (without
Google Benchmark's "/manual_time" or "/real_time" suffix) on the same shapes, so that bench/compare.py
can join the two JSON files by name.

  python3 bench/baselines/torch_kernels.py --device cpu --threads 2 --out /tmp/torch_cpu.json
  python3 bench/baselines/torch_kernels.py --device cuda --out /tmp/torch_cuda.json
  python3 bench/baselines/torch_kernels.py --device all --filter 'conv3d_fwd/.*/s[45]_' --min-time 0.1
  python3 bench/baselines/torch_kernels.py --device all --list        # the names only; runs nothing
  build/bench/kernels/nnuc_kernel_bench --benchmark_list_tests | \
      python3 bench/baselines/torch_kernels.py --check-names -         # names in sync with nnuc's?
  python3 bench/compare.py --ours nnuc.json --peer /tmp/torch_cpu.json

Devices (the last path component but one of a name, as in nnuc's benchmarks):
  cpu, cpu_f32   f32 on the CPU, torch.set_num_threads(--threads) (default: the cores this process may use).
  cuda_f32       f32 on the GPU, TF32 off for cuDNN and matmul (nnuc's reference mode).
  cuda_bf16      bf16 tensors on the GPU (nnuc's mixed mode); for the loss, autocast(bf16) as nnU-Net runs it.
  cuda           f32 -> bf16 cast and the i16 label resize (names where nnuc says "cuda").
  torch.backends.cudnn.benchmark = True on CUDA. Activations are channels_last_3d (channels_last for the
  2-D stages, which run as 4-D NCHW tensors), weights too: nnuc's NDHWC activations and (Co, kD, kH, kW, Ci)
  weights are exactly those memory layouts.

Timing, as nnuc's benchmarks: --warmup calls (default 1: cuDNN's benchmark plan choice, allocator pools)
are not timed; then each iteration is timed on its own, with CUDA events around it on the current stream
(manual time) or time.perf_counter on the CPU, until the timed iterations add up to --min-time seconds
(default 0.5 s, Google Benchmark's default) and at least 3 ran. The loss steps (dice_ce_step, region_step:
UseRealTime in loss_bench.cpp) are timed by the wall clock around a step that ends with a device sync, on
every device, launch overhead included. Reported: the median ms per iteration (nnuc's JSON holds the mean,
so the mean is kept too, in "mean_ms").

Napkin math (as in the comments of bench/kernels/*_bench.cpp; FLOPs = 2 MAC):
  conv MAC = Ci · Co · kD kH kW · V_out (V_out = N · Do · Ho · Wo); bwd_data and bwd_weight do the same
  MACs as fwd. Transposed conv (kernel == stride == 2): MAC = Ci · Co · V_out (V_out at the upsampled size).
  GFLOP per pass (run --list to see them beside each name; CPU shape in parentheses where reduced):
    conv3d 3x3x3, Ci = Co:  s0_128x32 231.93 (64^3: 28.99)   s1_64x64 115.96 (32^3: 14.50)   s2_32x128 57.98
                            s3_16x256 28.99   s4_8x320 5.66   s5_4x320 0.71
    conv3d down_s0_s1 (stride 2, 32 -> 64): 57.98 (CPU, x at 64^3: 7.25)
    conv3d aniso_1x3x3_16x128x128x32 (kernel 1x3x3, all devices): 9.66
    conv2d 3x3 at batch 12 (CPU: batch 2): 2d_s0_512x32 .. 2d_s4_32x512 57.98 each (9.66),
      2d_s5_16x512 14.50 (2.42), 2d_s6_8x512 3.62 (0.60)
    conv_transpose up_s1_s0 (64 -> 32, y 2·128^3): 17.18 (y at 64^3: 2.15)   up_s2_s1 8.59 (1.07)
      up_s3_s2 4.29   up_s4_s3 1.34   up_s5_s4 0.21
  s0 conv3d: 116 GMAC = 232 GFLOP per pass (conv_bench.cpp's comment says 57.98 GMAC = 116 GFLOP: that is
  batch 1; its FLOP/s counter uses the same formula as here) = 0.29 ms at the H100's ~790 TFLOP/s measured
  bf16 dense peak, ~3.5 ms at its ~67 TFLOP/s f32 (no TF32) peak; CPU s2_32x128 (58 GFLOP) ~0.37 s at this
  development machine's 157 GFLOP/s nominal (2 Zen 3 cores, AVX2 FMA).
  Memory-bound ops (bytes = read + written): instance_norm_lrelu fwd 3 · numel · sizeof(T), bwd 5 · numel
  · sizeof(T); add 3 · numel · s; axpy numel · (8 + s); cast 6 · numel; sum numel · s; concat/split
  4 · stage bytes; flip 2 · stage bytes; avg_pool in + in/8 (3-D) or in/4 (2-D); sgd_step 20 B (f32
  grads) per parameter over 31.2 M parameters = 624 MB; loss step 3 · V · K · s + 4 · V bytes.
  (H100 ~3.0 TB/s measured copy, H200 ~4.3 TB/s.)

Shapes: re-encoded from bench/kernels/bench_support.cpp (stages_3d(), stages_2d()) and the per-file CPU
reductions (conv_bench.cpp: s0/s1 and down_s0_s1 at half the spatial size, 2-D stages at batch 2, up_s1_s0
and up_s2_s1 with y at half size; instance_norm_bench.cpp / elementwise_bench.cpp / layout_bench.cpp:
spatial axes halved until a stage holds <= 2^24 values; loss_bench.cpp: 3-D at 64^3, 2-D at full size;
optim_bench.cpp: the 108 parameter tensors of the default 3-D PlainConvUNet). Keep them in sync by hand.

Peers, per nnuc benchmark:
  conv3d_* / conv2d_* / conv_transpose_*   F.conv3d / F.conv2d / F.conv_transpose3d (with bias) and, for
      the backward passes, torch.ops.aten.convolution_backward with output_mask selecting dx or dw only —
      the op autograd (and torch.nn.grad.conv3d_input / conv3d_weight) calls, given the real
      channels_last input so that cuDNN picks the NHWC kernels.
  instance_norm_lrelu_fwd/bwd   F.instance_norm(affine f32 gamma/beta, eps 1e-5) + F.leaky_relu(0.01,
      inplace=True) as nnU-Net's conv blocks, with grad enabled (training forward); bwd = autograd of that
      composition wrt (x, gamma, beta).
  leaky_relu_fwd/bwd   F.leaky_relu; torch.ops.aten.leaky_relu_backward.
  copy_bandwidth   Tensor.copy_ (device to device).
  add / axpy / cast_f32_to_bf16 / sum   a + b; y.add_(x, alpha=1e-3) (y f32, x of the device's dtype);
      x.to(bf16); x.sum(dtype=float32).
  concat_channels / split_channels   torch.cat(dim=1); split(dim=1) + .contiguous(channels_last) of each
      half (a split alone is a view: the copy is what nnuc's split writes).
  flip   torch.flip over the spatial axes.
  resize_nearest_exact_labels   F.interpolate does not take int16, so the equivalent strided copy:
      nearest-exact halving picks source index 2 i + 1, i.e. labels[..., 1::2, 1::2, 1::2].contiguous().
  avg_pool_fwd/bwd   F.avg_pool3d / avg_pool2d (kernel 2); torch.ops.aten.avg_pool{3,2}d_backward.
  dice_ce_step   nnU-Net's DC_and_CE_loss (softmax, MemoryEfficientSoftDiceLoss without background,
      smooth 1e-5, batch_dice False for 3-D / True for 2-D as nnU-Net's default plans; CE on
      target[:, 0].long()), forward + backward to the logits.
  region_step   nnU-Net's DC_and_BCE_loss (sigmoid dice with background, BCEWithLogits), fwd + bwd.
  sgd_step   torch.optim.SGD(lr 1e-2, momentum 0.99, nesterov, weight_decay 3e-5), torch's default
      implementation (foreach on CUDA, the per-tensor loop on the CPU). cuda_bf16: PyTorch cannot hold
      bf16 gradients for f32 parameters (AMP keeps them f32), so this row runs f32 gradients (18 vs 20 B
      per parameter; the row says so in "note").
  l2_norm / clip_by_total_norm   torch.nn.utils.get_total_norm / clip_grads_with_norm_ (clip_grad_norm_'s
      two halves; max_norm 1e6 as nnuc's bench), with a fallback for older torch.
  No peer: any_nonfinite/* (PyTorch has no standalone op: GradScaler fuses the check into unscaling, which
  also multiplies every gradient); everything else nnuc benchmarks has one.
"""
import argparse
import datetime
import gc
import json
import os
import platform
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# ------------------------------------------------------------------------------------------------------
# Shapes, re-encoded from bench/kernels/bench_support.cpp: channels-last (N, D, H, W, C).
STAGES_3D = [
    ("s0_128x32", (2, 128, 128, 128, 32)), ("s1_64x64", (2, 64, 64, 64, 64)),
    ("s2_32x128", (2, 32, 32, 32, 128)), ("s3_16x256", (2, 16, 16, 16, 256)),
    ("s4_8x320", (2, 8, 8, 8, 320)), ("s5_4x320", (2, 4, 4, 4, 320)),
]
STAGES_2D = [
    ("2d_s0_512x32", (12, 1, 512, 512, 32)), ("2d_s1_256x64", (12, 1, 256, 256, 64)),
    ("2d_s2_128x128", (12, 1, 128, 128, 128)), ("2d_s3_64x256", (12, 1, 64, 64, 256)),
    ("2d_s4_32x512", (12, 1, 32, 32, 512)), ("2d_s5_16x512", (12, 1, 16, 16, 512)),
    ("2d_s6_8x512", (12, 1, 8, 8, 512)),
]
CPU_MAX_VALUES = 1 << 24  # instance_norm_bench.cpp / elementwise_bench.cpp: kCpuMaxValues


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def cpu_shape(shape):
    """cpu_shape() of instance_norm_bench.cpp / elementwise_bench.cpp: halve D, H, W (those > 1) until the
    stage holds <= 2^24 values."""
    shape = list(shape)
    while numel(shape) > CPU_MAX_VALUES:
        for axis in (1, 2, 3):
            if shape[axis] > 1:
                shape[axis] //= 2
    return tuple(shape)


def cpu_stage_name(name, shape):
    small = cpu_shape(shape)
    return name if small == tuple(shape) else f"{name}_reduced_{small[1]}x{small[2]}x{small[3]}"


def halved(shape):  # conv_bench.cpp
    return (shape[0], shape[1] // 2, shape[2] // 2, shape[3] // 2, shape[4])


def reduced_suffix(shape):  # conv_bench.cpp
    return f"_reduced_{shape[1]}x{shape[2]}x{shape[3]}"


def is_2d(shape):
    return shape[1] == 1


# ------------------------------------------------------------------------------------------------------
# Devices.
DEVICES = {  # name -> (torch device type, dtype of the benchmark's tensors)
    "cpu": ("cpu", torch.float32), "cpu_f32": ("cpu", torch.float32),
    "cuda_f32": ("cuda", torch.float32), "cuda_bf16": ("cuda", torch.bfloat16), "cuda": ("cuda", torch.float32),
}


def to_torch(shape):
    """(N, D, H, W, C) -> the NCDHW sizes of a 3-D tensor, or NCHW for a 2-D stage (D == 1)."""
    n, d, h, w, c = shape
    return (n, c, h, w) if d == 1 else (n, c, d, h, w)


def memory_format(ndim):
    return torch.channels_last_3d if ndim == 5 else torch.channels_last


def uniform(sizes, dtype, device, low=-1.0, high=1.0, channels_last=True):
    t = torch.empty(sizes, dtype=torch.float32, device=device).uniform_(low, high).to(dtype)
    if channels_last and len(sizes) in (4, 5):
        t = t.contiguous(memory_format=memory_format(len(sizes)))
    return t


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------------------------
# The benchmarks. Each entry: name, device key, builder(device, dtype) -> work (a callable: one
# iteration; tensors allocated by the builder), timing "manual" (events / perf_counter per iteration) or
# "wall" (loss steps), GFLOP per iteration (conv) for the listing, and an optional note.
class Bench:
    def __init__(self, name, device, build, timing="manual", gflop=None, note=None):
        self.name, self.device, self.build = name, device, build
        self.timing, self.gflop, self.note = timing, gflop, note


# --- conv_bench.cpp ---
def conv_output(x, co, kernel, stride):
    pad = [(k - 1) // 2 for k in kernel]
    spatial = [(s + 2 * p - k) // st + 1 for s, p, k, st in zip(x[1:4], pad, kernel, stride)]
    return (x[0], *spatial, co), pad


def conv_builder(op, x_shape, co, kernel, stride):
    y_shape, pad = conv_output(x_shape, co, kernel, stride)
    two_d = is_2d(x_shape)
    if two_d:  # conv2d: drop D (and the kernel's 1 along D)
        kernel, stride, pad = kernel[1:], stride[1:], pad[1:]
    ci = x_shape[4]
    conv = F.conv2d if two_d else F.conv3d

    def build(device, dtype):
        x = uniform(to_torch(x_shape), dtype, device)
        w = uniform((co, ci, *kernel), dtype, device, -0.1, 0.1)
        b = uniform((co,), dtype, device)
        dy = uniform(to_torch(y_shape), dtype, device)
        dilation, zeros = [1] * len(kernel), [0] * len(kernel)
        if op == "fwd":
            return lambda: conv(x, w, b, stride, pad)
        mask = [True, False, False] if op == "bwd_data" else [False, True, False]
        return lambda: torch.ops.aten.convolution_backward(dy, x, w, None, list(stride), list(pad), dilation,
                                                           False, zeros, 1, mask)
    mac = ci * co * numel(kernel) * numel(y_shape[:4])
    return build, 2 * mac / 1e9


def transpose_builder(op, x_shape, co):
    y_shape = (x_shape[0], 2 * x_shape[1], 2 * x_shape[2], 2 * x_shape[3], co)
    ci = x_shape[4]

    def build(device, dtype):
        x = uniform(to_torch(x_shape), dtype, device)
        w = uniform((ci, co, 2, 2, 2), dtype, device, -0.1, 0.1)  # channels_last_3d: nnuc's (Ci, 2, 2, 2, Co)
        b = uniform((co,), dtype, device)
        dy = uniform(to_torch(y_shape), dtype, device)
        if op == "fwd":
            return lambda: F.conv_transpose3d(x, w, b, stride=2)
        mask = [True, False, False] if op == "bwd_data" else [False, True, False]
        return lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [2, 2, 2], [0, 0, 0], [1, 1, 1],
                                                           True, [0, 0, 0], 1, mask)
    return build, 2 * ci * co * numel(y_shape[:4]) / 1e9


def conv_benches():
    out = []
    ops = ("fwd", "bwd_data", "bwd_weight")
    for device in ("cpu", "cuda_f32", "cuda_bf16"):
        cpu = device == "cpu"

        def add_conv(family, name, x, co, kernel, stride):
            for op in ops:
                build, gflop = conv_builder(op, x, co, kernel, stride)
                out.append(Bench(f"{family}_{op}/{device}/{name}", device, build, gflop=gflop))
        for index, (name, shape) in enumerate(STAGES_3D):
            reduce = cpu and index < 2
            x = halved(shape) if reduce else shape
            add_conv("conv3d", name + (reduced_suffix(x) if reduce else ""), x, x[4], (3, 3, 3), (1, 1, 1))
        x = halved(STAGES_3D[0][1]) if cpu else STAGES_3D[0][1]
        add_conv("conv3d", "down_s0_s1" + (reduced_suffix(x) if cpu else ""), x, STAGES_3D[1][1][4], (3, 3, 3),
                 (2, 2, 2))
        add_conv("conv3d", "aniso_1x3x3_16x128x128x32", (2, 16, 128, 128, 32), 32, (1, 3, 3), (1, 1, 1))
        for name, shape in STAGES_2D:
            x = (2, *shape[1:]) if cpu else shape
            add_conv("conv2d", name + ("_reduced_batch2" if cpu else ""), x, x[4], (1, 3, 3), (1, 1, 1))
        for index in range(len(STAGES_3D) - 1):
            reduce = cpu and index < 2
            y = halved(STAGES_3D[index][1]) if reduce else STAGES_3D[index][1]
            x = (y[0], y[1] // 2, y[2] // 2, y[3] // 2, STAGES_3D[index + 1][1][4])
            name = f"up_s{index + 1}_s{index}" + (reduced_suffix(y) if reduce else "")
            for op in ops:
                build, gflop = transpose_builder(op, x, y[4])
                out.append(Bench(f"conv_transpose_{op}/{device}/{name}", device, build, gflop=gflop))
    return out


# --- instance_norm_bench.cpp ---
def instance_norm_builder(shape, backward):
    def build(device, dtype):
        sizes = to_torch(shape)
        c = sizes[1]
        x = uniform(sizes, dtype, device, -2, 3).requires_grad_()
        gamma = uniform((c,), torch.float32, device, 0.5, 1.5).requires_grad_()
        beta = uniform((c,), torch.float32, device, -0.5, 0.5).requires_grad_()
        dy = uniform(sizes, dtype, device)

        def forward():
            return F.leaky_relu(F.instance_norm(x, weight=gamma, bias=beta, eps=1e-5), 0.01, inplace=True)
        if not backward:
            return forward
        y = forward()
        return lambda: torch.autograd.grad(y, (x, gamma, beta), dy, retain_graph=True)
    return build


def leaky_relu_builder(shape, backward):
    def build(device, dtype):
        x = uniform(to_torch(shape), dtype, device)
        dy = uniform(to_torch(shape), dtype, device)
        if backward:
            return lambda: torch.ops.aten.leaky_relu_backward(dy, x, 0.01, False)
        return lambda: F.leaky_relu(x, 0.01)
    return build


def copy_builder(shape):
    def build(device, dtype):
        source = uniform(to_torch(shape), dtype, device)
        target = torch.empty_like(source)
        return lambda: target.copy_(source)
    return build


def instance_norm_benches():
    out = []
    for name, shape in STAGES_3D + STAGES_2D:
        small = cpu_shape(shape)
        cpu_name = cpu_stage_name(name, shape)
        out.append(Bench(f"instance_norm_lrelu_fwd/cpu/{cpu_name}", "cpu", instance_norm_builder(small, False)))
        out.append(Bench(f"instance_norm_lrelu_bwd/cpu/{cpu_name}", "cpu", instance_norm_builder(small, True)))
        for device in ("cuda_f32", "cuda_bf16"):
            out.append(Bench(f"instance_norm_lrelu_fwd/{device}/{name}", device, instance_norm_builder(shape, False)))
            out.append(Bench(f"instance_norm_lrelu_bwd/{device}/{name}", device, instance_norm_builder(shape, True)))
            out.append(Bench(f"copy_bandwidth/{device}/{name}", device, copy_builder(shape)))
    for name, shape in STAGES_3D:
        for backward in (False, True):
            op = "leaky_relu_bwd" if backward else "leaky_relu_fwd"
            out.append(Bench(f"{op}/cpu/{cpu_stage_name(name, shape)}", "cpu",
                             leaky_relu_builder(cpu_shape(shape), backward)))
            out.append(Bench(f"{op}/cuda_bf16/{name}", "cuda_bf16", leaky_relu_builder(shape, backward)))
    return out


# --- elementwise_bench.cpp and layout_bench.cpp: <op>/cpu/<reduced stage> and <op>/<cuda device>/<stage> ---
def stage_benches(op, make_builder, cuda_devices):
    out = []
    for name, shape in STAGES_3D + STAGES_2D:
        out.append(Bench(f"{op}/cpu/{cpu_stage_name(name, shape)}", "cpu", make_builder(cpu_shape(shape))))
        for device in cuda_devices:
            out.append(Bench(f"{op}/{device}/{name}", device, make_builder(shape)))
    return out


def add_builder(shape):
    def build(device, dtype):
        a, b = uniform(to_torch(shape), dtype, device), uniform(to_torch(shape), dtype, device)
        return lambda: torch.add(a, b)
    return build


def axpy_builder(shape):
    def build(device, dtype):
        y = uniform(to_torch(shape), torch.float32, device)
        x = uniform(to_torch(shape), dtype, device)
        return lambda: y.add_(x, alpha=1e-3)
    return build


def cast_builder(shape):
    def build(device, dtype):
        x = uniform(to_torch(shape), torch.float32, device)
        return lambda: x.to(torch.bfloat16)
    return build


def sum_builder(shape):
    def build(device, dtype):
        x = uniform(to_torch(shape), dtype, device)
        return lambda: x.sum(dtype=torch.float32)
    return build


def concat_builder(shape):
    def build(device, dtype):
        up, skip = uniform(to_torch(shape), dtype, device), uniform(to_torch(shape), dtype, device)
        return lambda: torch.cat([up, skip], 1)
    return build


def split_builder(shape):
    def build(device, dtype):
        sizes = list(to_torch(shape))
        c = sizes[1]
        sizes[1] *= 2
        g = uniform(sizes, dtype, device)
        fmt = memory_format(len(sizes))
        return lambda: [part.contiguous(memory_format=fmt) for part in g.split(c, 1)]
    return build


def flip_builder(shape):
    def build(device, dtype):
        x = uniform(to_torch(shape), dtype, device)
        dims = list(range(2, x.ndim))
        return lambda: torch.flip(x, dims)
    return build


def resize_builder(shape):
    def build(device, dtype):
        sizes = list(to_torch(shape))
        sizes[1] = 1  # the label map (N, 1, [D,] H, W), i16
        labels = torch.randint(0, 3, sizes, dtype=torch.int16, device=device)
        if labels.ndim == 5:
            return lambda: labels[:, :, 1::2, 1::2, 1::2].contiguous()
        return lambda: labels[:, :, 1::2, 1::2].contiguous()
    return build


def avg_pool_builder(shape, backward):
    def build(device, dtype):
        x = uniform(to_torch(shape), dtype, device)
        k = [2] * (x.ndim - 2)
        pool = F.avg_pool3d if x.ndim == 5 else F.avg_pool2d
        if not backward:
            return lambda: pool(x, k)
        dy = pool(x, k).clone(memory_format=memory_format(x.ndim)).uniform_(-1, 1)
        pool_backward = torch.ops.aten.avg_pool3d_backward if x.ndim == 5 else torch.ops.aten.avg_pool2d_backward
        return lambda: pool_backward(dy, x, k, k, [0] * len(k), False, True, None)
    return build


def elementwise_layout_benches():
    floats = ["cuda_f32", "cuda_bf16"]
    return (stage_benches("add", add_builder, floats) + stage_benches("axpy", axpy_builder, floats)
            + stage_benches("cast_f32_to_bf16", cast_builder, ["cuda"]) + stage_benches("sum", sum_builder, floats)
            + stage_benches("concat_channels", concat_builder, floats)
            + stage_benches("split_channels", split_builder, floats)
            + stage_benches("flip", flip_builder, floats)
            + stage_benches("resize_nearest_exact_labels", resize_builder, ["cuda"])
            + stage_benches("avg_pool_fwd", lambda s: avg_pool_builder(s, False), floats)
            + stage_benches("avg_pool_bwd", lambda s: avg_pool_builder(s, True), floats))


# --- optim_bench.cpp ---
def unet3d_parameter_shapes():
    """The 108 parameter shapes of the default 3-D PlainConvUNet, in PyTorch's (Co, Ci, k, k, k) order."""
    features, classes = [32, 64, 128, 256, 320, 320], 3
    shapes = []

    def conv_unit(out, inp):
        shapes.extend([(out, inp, 3, 3, 3), (out,), (out,), (out,)])
    previous = 1
    for f in features:
        conv_unit(f, previous)
        conv_unit(f, f)
        previous = f
    for s in range(4, -1, -1):
        f = features[s]
        shapes += [(features[s + 1], f, 2, 2, 2), (f,)]
        conv_unit(f, 2 * f)
        conv_unit(f, f)
        shapes += [(classes, f, 1, 1, 1), (classes,)]
    return shapes


def random_list(device, dtype, low, high):
    return [uniform(s, dtype, device, low, high, channels_last=False) for s in unet3d_parameter_shapes()]


def sgd_builder(device, dtype):
    params = random_list(device, torch.float32, -0.1, 0.1)
    for p, g in zip(params, random_list(device, torch.float32, -1e-3, 1e-3)):  # grads f32: see the note
        p.grad = g
    opt = torch.optim.SGD(params, lr=1e-2, momentum=0.99, weight_decay=3e-5, nesterov=True)
    return opt.step  # the warm-up step creates the momentum buffers


def total_norm(grads):
    if hasattr(torch.nn.utils, "get_total_norm"):
        return torch.nn.utils.get_total_norm(grads, 2.0, error_if_nonfinite=False)
    if grads[0].device.type == "cuda":  # clip_grad_norm_ before torch 2.6
        norms = torch._foreach_norm(grads, 2.0)
    else:
        norms = [torch.linalg.vector_norm(g, 2.0) for g in grads]
    return torch.linalg.vector_norm(torch.stack(norms), 2.0)


def l2_norm_builder(device, dtype):
    grads = random_list(device, dtype, -1e-3, 1e-3)
    return lambda: total_norm(grads)


def clip_builder(device, dtype):
    grads = random_list(device, dtype, -1e-3, 1e-3)
    norm = total_norm(grads)
    if hasattr(torch.nn.utils, "clip_grads_with_norm_"):
        params = [torch.empty_like(g) for g in grads]  # the grads' parameters (values unused)
        for p, g in zip(params, grads):
            p.grad = g
        return lambda: torch.nn.utils.clip_grads_with_norm_(params, 1e6, norm)

    def clip():  # clip_grad_norm_'s second half before torch 2.6
        coefficient = torch.clamp(1e6 / (norm + 1e-6), max=1.0)
        if grads[0].device.type == "cuda":
            torch._foreach_mul_(grads, coefficient.to(grads[0].dtype))
        else:
            for g in grads:
                g.mul_(coefficient.to(g.dtype))
    return clip


def optim_benches():
    out = []
    for device in ("cpu", "cuda_f32", "cuda_bf16"):
        note = "f32 gradients (torch cannot attach bf16 grads to f32 params)" if device == "cuda_bf16" else None
        out.append(Bench(f"sgd_step/{device}/unet3d_params", device, sgd_builder, note=note))
        out.append(Bench(f"l2_norm/{device}/unet3d_params", device, l2_norm_builder))
        out.append(Bench(f"clip_by_total_norm/{device}/unet3d_params", device, clip_builder))
    return out


# --- loss_bench.cpp: nnU-Net v2's losses (nnunetv2/training/loss/{dice,robust_ce_loss,compound_losses}.py) ---
def memory_efficient_soft_dice(x, y, apply_nonlin, batch_dice, do_bg, smooth=1e-5):
    """MemoryEfficientSoftDiceLoss.forward without loss mask and DDP."""
    if apply_nonlin is not None:
        x = apply_nonlin(x)
    axes = tuple(range(2, x.ndim))
    with torch.no_grad():
        if x.ndim != y.ndim:
            y = y.view((y.shape[0], 1, *y.shape[1:]))
        if x.shape == y.shape:
            y_onehot = y
        else:
            y_onehot = torch.zeros(x.shape, device=x.device, dtype=torch.bool)
            y_onehot.scatter_(1, y.long(), 1)
        if not do_bg:
            y_onehot = y_onehot[:, 1:]
        sum_gt = y_onehot.sum(axes)
    if not do_bg:
        x = x[:, 1:]
    intersect = (x * y_onehot).sum(axes)
    sum_pred = x.sum(axes)
    if batch_dice:
        intersect, sum_pred, sum_gt = intersect.sum(0), sum_pred.sum(0), sum_gt.sum(0)
    dc = (2 * intersect + smooth) / torch.clip(sum_gt + sum_pred + smooth, 1e-8)
    return -dc.mean()


def dc_and_ce_loss(logits, target, batch_dice):
    """DC_and_CE_loss (weights 1, no ignore label): softmax dice without background + RobustCrossEntropyLoss."""
    dc = memory_efficient_soft_dice(logits, target, lambda t: torch.softmax(t, 1), batch_dice, do_bg=False)
    ce = F.cross_entropy(logits, target[:, 0].long())
    return ce + dc


def dc_and_bce_loss(logits, target, batch_dice):
    """DC_and_BCE_loss (no ignore label): sigmoid dice with background + BCEWithLogitsLoss."""
    dc = memory_efficient_soft_dice(logits, target, torch.sigmoid, batch_dice, do_bg=True)
    ce = F.binary_cross_entropy_with_logits(logits, target.float())
    return ce + dc


def loss_builder(shape, region):
    batch_dice = is_2d(shape)  # nnU-Net's default plans: batch_dice True for 2d, False for 3d_fullres

    def build(device, dtype):
        sizes = to_torch(shape)
        logits = uniform(sizes, dtype, device, -3, 3).requires_grad_()
        if region:
            target = (uniform(sizes, torch.float32, device) > 0).to(torch.uint8)
            target = target.contiguous(memory_format=memory_format(len(sizes)))
            loss_fn = dc_and_bce_loss
        else:
            target = torch.randint(0, sizes[1], (sizes[0], 1, *sizes[2:]), dtype=torch.int16, device=device)
            loss_fn = dc_and_ce_loss
        autocast = dtype == torch.bfloat16  # nnU-Net computes the loss under autocast

        def step():
            with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
                loss = loss_fn(logits, target, batch_dice)
            grad, = torch.autograd.grad(loss, logits)
            sync(device)
            return grad
        return step
    return build


def loss_benches():
    s3, s3_cpu, s2 = (2, 128, 128, 128, 3), (2, 64, 64, 64, 3), (12, 1, 512, 512, 3)
    runs = [
        ("dice_ce_step/cpu_f32/3d_2x128^3x3_reduced_64^3", "cpu_f32", False, s3_cpu),
        ("dice_ce_step/cpu_f32/2d_12x512^2x3", "cpu_f32", False, s2),
        ("dice_ce_step/cuda_f32/3d_2x128^3x3", "cuda_f32", False, s3),
        ("dice_ce_step/cuda_bf16/3d_2x128^3x3", "cuda_bf16", False, s3),
        ("dice_ce_step/cuda_f32/2d_12x512^2x3", "cuda_f32", False, s2),
        ("dice_ce_step/cuda_bf16/2d_12x512^2x3", "cuda_bf16", False, s2),
        ("region_step/cpu_f32/3d_2x128^3x3_reduced_64^3", "cpu_f32", True, s3_cpu),
        ("region_step/cuda_bf16/3d_2x128^3x3", "cuda_bf16", True, s3),
    ]
    return [Bench(name, device, loss_builder(shape, region), timing="wall") for name, device, region, shape in runs]


def all_benches():
    return conv_benches() + instance_norm_benches() + elementwise_layout_benches() + optim_benches() + loss_benches()


# ------------------------------------------------------------------------------------------------------
# Timing.
def measure(work, device, timing, min_time, warmup, min_iterations=3):
    for _ in range(warmup):
        work()
    sync(device)
    times = []  # seconds per iteration
    wall_start = time.perf_counter()
    events = device == "cuda" and timing == "manual"
    if events:
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    while len(times) < min_iterations or sum(times) < min_time:
        if events:
            start.record()
            work()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop) * 1e-3)
        else:
            t0 = time.perf_counter()
            work()  # the loss steps end with their own device sync
            times.append(time.perf_counter() - t0)
        # Per-iteration sync overhead can make tiny kernels take far longer than their summed time.
        if len(times) >= min_iterations and time.perf_counter() - wall_start > 20 * min_time + 5:
            break
    return times


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                    help="cpu: the cpu / cpu_f32 rows; cuda: cuda_f32, cuda_bf16 and cuda rows; all: both "
                         "(cuda only where a GPU is present)")
    ap.add_argument("--filter", default=".", help="regex searched in each name (as --benchmark_filter)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="CPU threads")
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds of timed iterations per benchmark")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls before timing")
    ap.add_argument("--out", help="JSON file for bench/compare.py --peer")
    ap.add_argument("--list", action="store_true", help="print the selected names (and conv GFLOP); run nothing")
    ap.add_argument("--check-names", metavar="FILE",
                    help="the output of `nnuc_kernel_bench --benchmark_list_tests` ('-': stdin): print nnuc's "
                         "names without a peer and peer names nnuc lacks (both should be empty but any_nonfinite), "
                         "run nothing; exit status 1 if a peer name is not nnuc's")
    args = ap.parse_args()

    if args.check_names:
        with (sys.stdin if args.check_names == "-" else open(args.check_names)) as f:
            ours = {re.sub(r"/(manual_time|real_time)$", "", line.strip()) for line in f if line.strip()}
        peer = {b.name for b in all_benches()}
        print("nnuc benchmarks without a peer:", *sorted(ours - peer) or ["(none)"], sep="\n  ")
        print("peer names nnuc does not have:", *sorted(peer - ours) or ["(none)"], sep="\n  ")
        sys.exit(1 if peer - ours else 0)

    has_cuda = torch.cuda.is_available()
    wanted = {"cpu"} if args.device == "cpu" else {"cuda"} if args.device == "cuda" else {"cpu", "cuda"}
    if not args.list and not has_cuda:
        if args.device == "cuda":
            sys.exit("no CUDA device")
        wanted.discard("cuda")
    pattern = re.compile(args.filter)
    benches = [b for b in all_benches() if DEVICES[b.device][0] in wanted and pattern.search(b.name)]
    if args.list:
        for b in benches:
            print(b.name + (f"  ({b.gflop:.2f} GFLOP)" if b.gflop else ""))
        return

    torch.set_num_threads(args.threads)
    if has_cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    context = {
        "peer": f"PyTorch {torch.__version__}",
        "version": f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version() or '-'}",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),  # the library torch ships, even where no GPU is present
        "device": "; ".join(([f"cpu: {cpu_name()}"] if "cpu" in wanted else [])
                            + ([f"cuda: {torch.cuda.get_device_name()}"] if "cuda" in wanted else [])),
        "threads": torch.get_num_threads(),
        "host": platform.node(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "min_time_s": args.min_time,
        "warmup": args.warmup,
        "cudnn_benchmark": bool(has_cuda and torch.backends.cudnn.benchmark),
        "tf32": False,
        "filter": args.filter,
    }
    results = []
    for b in benches:
        device, dtype = DEVICES[b.device]
        try:
            work = b.build(device, dtype)
            times = measure(work, device, b.timing, args.min_time, args.warmup)
        except Exception as error:  # report and go on, as Google Benchmark's SkipWithError
            print(f"{b.name:60s} ERROR {type(error).__name__}: {error}", flush=True)
            results.append({"name": b.name, "error": f"{type(error).__name__}: {error}"})
            continue
        finally:
            work = None
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()
        ms = [t * 1e3 for t in times]
        row = {"name": b.name, "ms": statistics.median(ms), "mean_ms": statistics.fmean(ms), "min_ms": min(ms),
               "iterations": len(ms)}
        if b.gflop:
            row["gflop"] = b.gflop
        if b.note:
            row["note"] = b.note
        results.append(row)
        rate = f"  {b.gflop / row['ms']:8.1f} TFLOP/s" if b.gflop and device == "cuda" else \
            f"  {b.gflop / row['ms'] * 1e3:8.1f} GFLOP/s" if b.gflop else ""
        print(f"{b.name:60s} {row['ms']:10.3f} ms  ({len(ms)} it){rate}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"results": [r for r in results if "ms" in r], "errors": [r for r in results if "error" in r],
                       "context": context}, f, indent=1)


if __name__ == "__main__":
    main()
