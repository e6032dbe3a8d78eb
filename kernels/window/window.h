// The sliding-window predictor's data movement and accumulation (spec §8.3): cutting tiles out of a
// channel-first case into the network's channels-last batch, summing the mirrored network outputs of
// test-time mirroring, and adding Gaussian-weighted tiles into the f32 logit and weight buffers.
//
// Coordinates. A case is f32 (C, b0, b1, b2), channel-first as preprocessing writes it. A tile of size
// (t0, t1, t2) sits at an origin o in the case's coordinates; origins may be negative or reach past
// the end: voxels outside (b0, b1, b2) read as 0 (the predictor's constant zero padding) and are
// dropped when accumulating (the padding is cropped away afterwards in any case).
//
// Mirroring. flip_axes is a mask of kFlipD | kFlipH | kFlipW (kernels/layout/flip.h) over the tile's
// axes (0, 1, 2); m(x)_a = t_a - 1 - x_a on a flipped axis a, else x_a.
//
// Tiles of one call may overlap: accumulate_tiles adds them one after another, in order, so the
// kernels need no atomics and the result does not depend on thread counts.
//
// CPU and CUDA give bit-identical results: data movement is exact, the casts round to nearest even
// on both, and the arithmetic is the same f32 operations in the same order (CUDA with explicit
// round-to-nearest intrinsics, so nvcc does not contract them into FMAs; the CPU build uses no
// contraction either: ISO C++17, no -ffp-contract=fast).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"
#include "kernels/layout/flip.h"

namespace nnuc {

// A tile's first voxel in the case's coordinates (axes 0, 1, 2); may be negative.
using TileOrigin = std::array<std::int64_t, 3>;
using TileSize = std::array<std::int64_t, 3>;

// CUDA vs CPU: identical bits (see the header comment), for f32 and bf16 alike.
constexpr Tolerance kWindowToleranceF32{0, 0};
constexpr Tolerance kWindowToleranceBf16{0, 0};

// extract_tiles: out[n, x0, x1, x2, c] = image[c, o_n + m(x)] rounded to `dtype`, 0 where o_n + m(x)
//   lies outside (b0, b1, b2). (Equals flip(tile, flip_axes) of the unflipped tile.)
// requires: image f32 (C, b0, b1, b2) on ctx's device; origins non-empty; tile sizes >= 1;
//           flip_axes a subset of kFlipD | kFlipH | kFlipW; dtype f32 (CPU), f32 or bf16 (CUDA).
// ensures:  returns a new (N, t0, t1, t2, C) tensor in `dtype` on ctx's device, N = origins.size().
Tensor extract_tiles(const Context& ctx, const Tensor& image, const std::vector<TileOrigin>& origins,
                     const TileSize& tile, unsigned flip_axes, DType dtype);

// add_flipped_tiles: sum[n, x, k] = logits[n, m(x), k]                 (overwrite)
//                    sum[n, x, k] = sum[n, x, k] + logits[n, m(x), k]  (otherwise), in f32.
//   Test-time mirroring: the network's output for a mirrored batch, mirrored back and summed.
// requires: logits (N, t0, t1, t2, K) f32 (CPU), f32 or bf16 (CUDA); sum f32 of the same shape; both
//           on ctx's device, not the same tensor; flip_axes as for extract_tiles.
// ensures:  sum is written in place; nothing is allocated.
void add_flipped_tiles(const Context& ctx, const Tensor& logits, unsigned flip_axes, Tensor& sum, bool overwrite);

// accumulate_tiles: for n = 0 .. N-1 in order, for every tile voxel x whose v = o_n + x lies inside
//   (b0, b1, b2):  acc[k, v] = acc[k, v] + (tile_sum[n, x, k] * scale) * gaussian[x]   for every k,
//                  weights[v] = weights[v] + gaussian[x]                                  (all f32).
//   With tile_sum the sum of 2^j mirrored outputs and scale = 2^-j, tile_sum * scale is exactly
//   nnU-Net's prediction /= (number of mirrorings) (spec §8.3 steps 4 and 5).
// requires: tile_sum f32 (N, t0, t1, t2, K); gaussian f32 (t0, t1, t2); acc f32 (K, b0, b1, b2);
//           weights f32 (b0, b1, b2); all on ctx's device; origins.size() == N; scale finite.
// ensures:  acc and weights are updated in place; nothing is allocated.
void accumulate_tiles(const Context& ctx, const Tensor& tile_sum, const Tensor& gaussian, float scale,
                      const std::vector<TileOrigin>& origins, Tensor& acc, Tensor& weights);

// normalize_by_weights: acc[k, v] = acc[k, v] / weights[v] (f32, correctly rounded), in place.
// requires: acc f32 (K, b0, b1, b2), weights f32 (b0, b1, b2), both on ctx's device.
// ensures:  acc holds the weighted mean; nothing is allocated. A zero weight gives Inf or NaN.
void normalize_by_weights(const Context& ctx, Tensor& acc, const Tensor& weights);

}  // namespace nnuc
