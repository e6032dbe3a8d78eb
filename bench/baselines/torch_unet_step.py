#!/usr/bin/env python3
"""PyTorch peer for nnuc's training-step benchmark: nnU-Net's default PlainConvUNet (spec §5.3),
Dice+CE loss with deep supervision (spec §6.2), SGD Nesterov 0.99 (spec §6.1), one step timed.

Self-contained (plain torch, no nnunetv2 import) so that it runs on the GPU machines as they are.

  CPU (dev machine):  python torch_unet_step.py --device cpu --patch 32 32 32 --batch 2 --threads 2
  GPU:                python torch_unet_step.py --device cuda --patch 128 128 128 --batch 2 --amp bf16

Prints one JSON line: {"name": ..., "device": ..., "step_ms": median, "steps": n, ...}.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_block(cin, cout, kernel, stride, dim):
    conv = (nn.Conv3d if dim == 3 else nn.Conv2d)(cin, cout, kernel, stride, [(k - 1) // 2 for k in kernel], bias=True)
    norm = (nn.InstanceNorm3d if dim == 3 else nn.InstanceNorm2d)(cout, eps=1e-5, affine=True)
    return nn.Sequential(conv, norm, nn.LeakyReLU(0.01, inplace=True))


class PlainConvUNet(nn.Module):
    def __init__(self, cin, classes, features, kernels, strides, dim, convs=2):
        super().__init__()
        self.encoder = nn.ModuleList()
        prev = cin
        for f, k, s in zip(features, kernels, strides):
            self.encoder.append(nn.Sequential(conv_block(prev, f, k, s, dim),
                                              *[conv_block(f, f, k, [1] * dim, dim) for _ in range(convs - 1)]))
            prev = f
        convt = nn.ConvTranspose3d if dim == 3 else nn.ConvTranspose2d
        conv = nn.Conv3d if dim == 3 else nn.Conv2d
        self.up, self.decoder, self.heads = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for s in range(len(features) - 2, -1, -1):
            self.up.append(convt(features[s + 1], features[s], strides[s + 1], strides[s + 1], bias=True))
            self.decoder.append(nn.Sequential(conv_block(2 * features[s], features[s], kernels[s], [1] * dim, dim),
                                              *[conv_block(features[s], features[s], kernels[s], [1] * dim, dim)
                                                for _ in range(convs - 1)]))
            self.heads.append(conv(features[s], classes, 1, 1, 0, bias=True))

    def forward(self, x):
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = skips[-1]
        outputs = []
        for j, (up, dec, head) in enumerate(zip(self.up, self.decoder, self.heads)):
            x = dec(torch.cat([up(x), skips[-(j + 2)]], 1))
            outputs.append(head(x))
        return outputs[::-1]  # highest resolution first


def dice_ce(logits, target, batch_dice=False, smooth=1e-5):
    ce = F.cross_entropy(logits.float(), target[:, 0].long())
    p = torch.softmax(logits.float(), 1)
    y = torch.zeros_like(p).scatter_(1, target.long(), 1)
    p, y = p[:, 1:], y[:, 1:]
    axes = [0] + list(range(2, p.ndim)) if batch_dice else list(range(2, p.ndim))
    inter, psum, gsum = (p * y).sum(axes), p.sum(axes), y.sum(axes)
    dc = (2 * inter + smooth) / torch.clamp(gsum + psum + smooth, min=1e-8)
    return ce - dc.mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--patch", type=int, nargs="+", default=[32, 32, 32])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    dim = len(args.patch)
    # Default 3d_fullres topology for a 128^3 patch (spec §3.5): 6 stages, features 32..320.
    n_stages = 6 if dim == 3 else 8
    features = [min(32 * 2 ** i, 320 if dim == 3 else 512) for i in range(n_stages)]
    kernels = [[3] * dim] * n_stages
    strides = [[1] * dim] + [[2] * dim] * (n_stages - 1)
    # Smaller patches cannot take all 5 poolings: keep stages while every axis stays >= 4.
    while any(p // 2 ** (len(strides) - 1) < 4 for p in args.patch):
        features, kernels, strides = features[:-1], kernels[:-1], strides[:-1]
    net = PlainConvUNet(1, args.classes, features, kernels, strides, dim).to(dev)
    mem_format = torch.channels_last_3d if dim == 3 else torch.channels_last
    if args.channels_last:
        net = net.to(memory_format=mem_format)
    opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
    x = torch.randn(args.batch, 1, *args.patch, device=dev)
    if args.channels_last:
        x = x.to(memory_format=mem_format)
    target = torch.randint(0, args.classes, (args.batch, 1, *args.patch), device=dev)
    n_out = len(features) - 1
    weights = [1 / 2 ** i for i in range(n_out)]
    weights[-1] = 0
    weights = [w / sum(weights) for w in weights]
    targets = [target]
    for i in range(1, n_out):
        targets.append(F.interpolate(target.float(), scale_factor=0.5 ** i, mode="nearest-exact").long())
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            outs = net(x)
            loss = sum(w * dice_ce(o, t) for w, o, t in zip(weights, outs, targets) if w > 0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
        opt.step()

    times = []
    for i in range(args.warmup + args.steps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    params = sum(p.numel() for p in net.parameters())
    print(json.dumps({"name": f"unet_step/{args.device}/{'x'.join(map(str, args.patch))}_b{args.batch}",
                      "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
                      "threads": torch.get_num_threads(), "amp": args.amp, "features": features,
                      "parameters": params, "step_ms": statistics.median(times), "steps": len(times),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
