// The pipeline's per-voxel steps besides the spatial (spatial.h) and intensity (intensity.h) ones
// (spec §7.3 steps 11, 12, 13, 15) and the one conversion to the network's layout: channel-first in,
// on CPU or CUDA. Each op: public entry point (checks, allocation, dispatch) in steps.cpp, cpu:: in
// steps_cpu.cpp, cuda:: in steps_cuda.cu. Per-sample values travel as kernel arguments on CUDA.
//
// Pure data movement and comparisons: CPU and CUDA results are bit-identical (to_channels_last to
// bf16 rounds to nearest even on both).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc::augment {

// Bits of a mirror mask: array axes 0, 1, 2 of (B, C, L0, L1, L2).
inline constexpr unsigned kMirror0 = 1u, kMirror1 = 2u, kMirror2 = 4u;

// mirror_samples (step 11): out[b, c, i0, i1, i2] = x[b, c, i0', i1', i2'], i_d' = L_d − 1 − i_d where
//   bit d of axes[b] is set, else i_d.
// requires: x (B, C, L0, L1, L2) on ctx's device, elements of 1, 2, 4 or 8 bytes; axes.size() == B,
//           each a subset of kMirror0 | kMirror1 | kMirror2.
// ensures:  a new tensor of x's shape and dtype.
Tensor mirror_samples(const Context& ctx, const Tensor& x, const std::vector<unsigned>& axes);

// mask_image (step 12), in place: data[b, c, v] = 0 where seg[b, 0, v] < 0, for each c with channels[c].
// requires: data f32 (B, C, X, Y, Z), seg i16 (B, S, X, Y, Z) on ctx's device; channels.size() == C <= 64.
void mask_image(const Context& ctx, Tensor& data, const Tensor& seg, const std::vector<bool>& channels);

// remove_label (step 13): for each seg channel s, out[s] = seg[:, s] with −1 replaced by 0.
// requires: seg i16 (B, S, X, Y, Z) on ctx's device.
// ensures:  S new tensors i16 (B, 1, X, Y, Z) (also readable as the (B, X, Y, Z, 1) label map).
std::vector<Tensor> remove_label(const Context& ctx, const Tensor& seg);

// labels_to_regions (step 15): out[..., r] = 1 if labels[..., 0] ∈ regions[r] else 0, for r < R;
//   with an ignore label a last channel out[..., R] = (labels == ignore_label).
// requires: labels i16 (B, X, Y, Z, 1) on ctx's device; 1 <= R, R + 1 <= 255; each region non-empty
//           with labels in [0, 32767]; at most kMaxRegionEntries labels over all regions.
// ensures:  a new tensor u8 (B, X, Y, Z, R (+1)).
inline constexpr int kMaxRegionEntries = 512;
Tensor labels_to_regions(const Context& ctx, const Tensor& labels, const std::vector<std::vector<int>>& regions,
                         std::optional<int> ignore_label);

// to_channels_last: out[b, x, y, z, c] = data[b, c, x, y, z] in `dtype`.
// requires: data f32 (B, C, X, Y, Z) on ctx's device; dtype f32, or bf16 on CUDA.
// ensures:  a new tensor (B, X, Y, Z, C) of `dtype`.
Tensor to_channels_last(const Context& ctx, const Tensor& data, DType dtype);

// The kernel form of labels_to_regions' table: pairs (label, region), then the ignore label (or −1).
struct RegionTable {
  std::int16_t label[kMaxRegionEntries];
  std::uint8_t region[kMaxRegionEntries];
  std::int32_t entries;
  std::int32_t channels;  // R (+1)
  std::int32_t ignore;    // −1: none
};

namespace cpu {
void mirror_samples(const Tensor& x, const std::vector<unsigned>& axes, Tensor& out);
void mask_image(Tensor& data, const Tensor& seg, std::uint64_t channels);
void remove_label(const Tensor& seg, std::int64_t channel, Tensor& out);
void labels_to_regions(const Tensor& labels, const RegionTable& table, Tensor& out);
void to_channels_last(const Tensor& data, Tensor& out);
}  // namespace cpu

namespace cuda {
void mirror_samples(const Context& ctx, const Tensor& x, const std::vector<unsigned>& axes, Tensor& out);
void mask_image(const Context& ctx, Tensor& data, const Tensor& seg, std::uint64_t channels);
void remove_label(const Context& ctx, const Tensor& seg, std::int64_t channel, Tensor& out);
void labels_to_regions(const Context& ctx, const Tensor& labels, const RegionTable& table, Tensor& out);
void to_channels_last(const Context& ctx, const Tensor& data, Tensor& out);
}  // namespace cuda

}  // namespace nnuc::augment
