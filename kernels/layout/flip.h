// Mirroring of channels-last activations and label maps along spatial axes: test-time mirroring
// in the sliding-window predictor (spec §8.3) and the mirror augmentation (spec §7.3 step 11).
//
// Pure data movement: any dtype on CPU and CUDA, results bit-identical on both devices.
#pragma once

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc {

// Axis bits of flip()'s mask: the spatial axes D, H, W of (N, D, H, W, C).
constexpr unsigned kFlipD = 1u, kFlipH = 2u, kFlipW = 4u;

// flip: out[n, d, h, w, c] = x[n, d', h', w', c] with d' = D - 1 - d when axes has kFlipD (else d),
//       and likewise h' (kFlipH), w' (kFlipW).
// requires: x defined, on ctx's device, rank 5 (N, D, H, W, C), any dtype; axes a subset of
//           kFlipD | kFlipH | kFlipW (0 copies).
// ensures:  returns a new tensor of x's shape and dtype; flip(flip(x, m), m) == x.
Tensor flip(const Context& ctx, const Tensor& x, unsigned axes);

}  // namespace nnuc
