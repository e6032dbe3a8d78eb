// Nearest-neighbour resizing with PyTorch's 'nearest-exact' rule: the deep-supervision targets
// (spec §7.3 step 16, batchgeneratorsv2 DownsampleSegForDSTransform: F.interpolate(seg.float(),
// new_shape, mode='nearest-exact'), then back to the label dtype) and the downsampling half of
// "simulate low resolution" (step 8).
//
// Source index per spatial axis, in PyTorch's f32 arithmetic (UpSample.h,
// nearest_neighbor_exact_compute_source_index, with scale = compute_scales_value<float>):
//   scale = fl32(in / out)                       (f32 division)
//   src   = min(floor(fl32((dst + 0.5) * scale)), in - 1)
// (dst + 0.5) and the product are exact before the one rounding to f32, so PyTorch's CPU (double
// product, then floorf) and CUDA (f32 product) agree, and so do ours. The rounding makes this differ
// from the exact rational floor((2 dst + 1) in / (2 out)) in rare cases: 26 -> 11, dst 5 gives
// src 12 (exact: 13). Identity when in == out; the usual halving (in = 2 out) reads src = 2 dst + 1.
//
// Pure data movement after the index computation: any dtype (i16 / u8 label maps included) on CPU
// and CUDA, bit-identical results. Labels go through no float conversion (PyTorch's round trip
// through f32 is exact for label values).
#pragma once

#include <array>
#include <cstdint>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc {

// The source index along one axis (the rule above).
std::int64_t nearest_exact_source_index(std::int64_t dst, std::int64_t in, std::int64_t out);

// The extent nnU-Net gives a deep-supervision target along one axis: Python's round(extent * scale)
// (round half to even, in f64), e.g. extent 5, scale 0.5 -> 2; extent 7, scale 0.5 -> 4.
// requires: extent >= 1; scale > 0 and finite; the result >= 1.
std::int64_t deep_supervision_extent(std::int64_t extent, double scale);

// resize_nearest_exact: out[n, d, h, w, c] = x[n, src_D(d), src_H(h), src_W(w), c]
// requires: x defined, on ctx's device, rank 5 (N, D, H, W, C), any dtype; out_spatial = (Do, Ho, Wo),
//           each >= 1 (downsampling or upsampling; the ops of nnU-Net downsample).
// ensures:  returns a new tensor (N, Do, Ho, Wo, C) of x's dtype.
Tensor resize_nearest_exact(const Context& ctx, const Tensor& x, const std::array<std::int64_t, 3>& out_spatial);

}  // namespace nnuc
