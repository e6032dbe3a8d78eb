// nnU-Net's sliding-window prediction (spec §8.3, predict_sliding_window_return_logits): the logits of
// one preprocessed case, from tiles of the plan's patch size weighted by a Gaussian importance map,
// with test-time mirroring, averaged over the folds' networks.
//
// Differences from nnU-Net:
// - Buffers are f32 (nnU-Net: fp16), and the network runs in bf16 (mixed precision, CUDA) or f32.
//   Against nnU-Net with f32 buffers the logits agree to rounding (1e-5). nnU-Net's own fp16 buffers
//   are coarse where the Gaussian weight sum is tiny (edges and corners of a case, weights near 6e-8):
//   there its logits move by up to 0.45 and about 0.1 % of 3-D labels flip, while nnuc's do not
//   (measured in tests/nn/predictor_parity_test.cpp).
// - The case is not padded in memory: tiles read zeros outside it and accumulate only the voxels
//   inside it, which are the voxels nnU-Net keeps after removing the padding.
// - Several tiles may go through the network in one call (tile_batch); every tile is still summed
//   into the buffers one after another in nnU-Net's order.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"
#include "nn/predict/cancel.h"
#include "nn/unet.h"

namespace nnuc::nn {

// Tile starts along one axis (spec §8.3 step 2), computed as numpy does in nnU-Net's
// compute_steps_for_sliding_window: n = ceil((S - P) / (P * step)) + 1; starts_k =
// round_half_even(k * ((S - P) / (n - 1))) in double; [0] if n == 1.
// requires: tile >= 1, size >= tile, 0 < step_size <= 1. Throws InvalidInput otherwise.
std::vector<std::int64_t> sliding_window_starts(std::int64_t size, std::int64_t tile, double step_size);

// Gaussian importance map (spec §8.3 step 3): f32 host tensor (P0, P1, P2) holding exactly the fp16-rounded
// values of 10 * prod_d exp(-(x_d - floor(P_d / 2))^2 / (2 sigma_d^2)), sigma_d = P_d / 8 (evaluated in
// double, rounded once to fp16, nearest even), with fp16 zeros replaced by the smallest nonzero fp16 value
// of the map. A 2d configuration passes (1, p1, p2) (the axis of size 1 contributes a factor 1).
// requires: every P_d >= 1.
Tensor gaussian_importance_map(const std::array<std::int64_t, 3>& tile);

struct SlidingWindowOptions {
  std::array<std::int64_t, 3> patch{};  // plan patch size; 2d configurations: (1, p1, p2)
  bool is_2d = false;                   // 2d configuration: every slice along axis 0, tiles over axes 1, 2
  double step_size = 0.5;
  bool use_mirroring = true;  // test-time mirroring over mirror_axes
  // nnU-Net's inference_allowed_mirroring_axes: axes of the patch's spatial dims (3d: subset of 0, 1, 2;
  // 2d: subset of 0, 1 meaning the 2-D image's axes, i.e. volume axes 1, 2).
  std::vector<int> mirror_axes;
  int tile_batch = 0;                // tiles per network call; 0 = automatic (see below)
  DType activations = DType::f32;    // f32, or bf16 on CUDA (mixed precision, the Predictor's default there)
  bool accumulate_on_device = true;  // false: accumulate on the host (what the OOM fallback uses)
};

struct SlidingWindowStats {
  std::int64_t tiles = 0;          // tiles of the case, per network
  std::int64_t network_calls = 0;  // completed forward calls, all networks and mirrorings together
  bool fell_back_to_host = false;  // an OutOfMemory moved the accumulation to the host
  int final_tile_batch = 0;        // tiles per call at the end (smaller than the start after halvings)
};

// CUDA vs CPU on the same networks and case, element-wise on the logits:
// |cuda - cpu| <= atol * max|cpu| + rtol * |cpu| (atol relative to the largest logit, as for the
// convolutions: the networks' sums cancel to values near zero). The window ops themselves are exact
// (kernels/window/window.h); the bounds are the networks' (kConvTolerance*, kInstanceNormTolerance*
// compounded over the layers of a small U-Net, then averaged over tiles and mirrorings). Measured on an
// H200 (2026-12-04, tests/nn/sliding_window_gpu_test.cpp): f32 at most 1.7e-6 max|cpu|, bf16 at most
// 2.0e-2 max|cpu|.
constexpr Tolerance kSlidingWindowToleranceF32{2e-5, 1e-5};
constexpr Tolerance kSlidingWindowToleranceBf16{6e-2, 6e-2};

// Logits of one preprocessed case averaged over `networks` (one per fold): f32 (K, b0, b1, b2) on the host.
// Per network: tiles over the case (zero padding where it is smaller than the patch), mirroring TTA
// averaged over the 2^|axes| flips, Gaussian-weighted accumulation in f32 buffers. Every network adds
// into the same two buffers (the weighted logits and the weights), and one division at the end gives
// sum_f acc_f / sum_f w = mean_f (acc_f / w), the fold average of nnU-Net's
// predict_logits_from_preprocessed_data (which divides per fold, then averages: equal up to f32
// rounding) with one K-channel buffer instead of two.
//
// requires: ctx CPU or CUDA; image f32 (C, b0, b1, b2) on the host or on ctx's device; networks
//   non-empty, each in inference mode (deep supervision off) with its parameters on ctx's device, the
//   same input channels C and classes K; patch >= 1 per axis (2d: patch[0] == 1); mirror axes distinct
//   and in range; activations f32 (CPU) or f32/bf16 (CUDA); 0 < step_size <= 1; tile_batch >= 0.
// ensures: returns f32 (K, b0, b1, b2) on the host. Throws Error when a logit is not finite.
//   progress(done, total) is called after every batch of tiles (total = tiles * networks). A raised
//   `cancel` flag makes the call throw PredictionCancelled before its next network call.
//
// Tile batch 0 (automatic): the largest batch (on CUDA at most 8; on the CPU at most 4 and no more
// than 2^18 voxels of tiles in all, so one tile from 64^3 up; never more than the tiles) whose network
// forward, measured on a Meta context, fits half of the memory available (CUDA: the device's free
// memory and the pool's cache after the buffers; CPU: MemAvailable).
//
// Memory: on CUDA the case, the buffers and the tiles stay on the device and the tile loop makes no
// host round trip; the averaged logits come to the host once. The host holds one copy of the K-channel
// logits (the result); on the CPU the buffers are that copy.
// An OutOfMemory during the accumulation or a network call falls back, in order, to accumulation on
// the host (the buffers move there and the tile loop goes on), then to halving the tile batch down to
// 1, and only then propagates. A fallback changes no value: the same tiles are summed in the same order
// (on the CPU, where both "devices" are the host, the result is bit-identical).
Tensor predict_sliding_window(const Context& ctx, const std::vector<UNet*>& networks, const Tensor& image,
                              const SlidingWindowOptions& options, SlidingWindowStats* stats = nullptr,
                              const std::function<void(std::int64_t done, std::int64_t total)>& progress = nullptr,
                              const CancelFlag* cancel = nullptr);

}  // namespace nnuc::nn
