// nnU-Net's training and validation transforms (spec §7.2-§7.5) on the loader's channel-first crops,
// ending in the one conversion to the network's channels-last layout. See data/augment/README.md.
//
// Training, per batch (augment_batch, training = true):
//   draws    per sample b: PhiloxDraws(philox_key(seed, augmentation), iteration, first_element + b, 0),
//            consumed as draw_spatial → draw_intensity → mirror (one coin per allowed axis, ascending)
//            → draw_cascade (cascade only): draw_sample
//   1-3      spatial_transform (planar for 2-D and dummy-2D: the fold of axis 0 into channels, the
//            2-D transform and the unfold are one planar transform that keeps axis 0)
//   4-10     apply_intensity (noise key philox_key(seed, augment_noise), counter (iteration, b, ...))
//   11       mirror_samples on image and seg
//   12       mask_image (channels with use_mask_for_norm)
//   13       remove_label (−1 → 0), splitting the seg channels
//   14       cascade_inputs (one-hot of the previous stage, perturbed)
//   15, 16   deep-supervision targets: resize_nearest_exact of the label map, then labels_to_regions
//   layout   to_channels_last in out_dtype
// Validation (training = false, §7.4): steps 13, 14 without perturbation, 15, 16 and the conversion,
// on crops of the plan patch.
//
// On CUDA everything is queued on ctx's stream: parameters are drawn on the host and travel as kernel
// arguments, nothing waits for the device.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "data/augment/cascade.h"
#include "data/augment/intensity.h"
#include "data/augment/spatial.h"
#include "data/augment/steps.h"
#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc::augment {

inline constexpr double kMirrorProbability = 0.5;

// Everything the pipeline needs to know about a configuration. Spatial triples are array axes
// (a0, a1, a2); 2-D configurations are (1, p1, p2).
struct AugmentConfig {
  std::array<std::int64_t, 3> patch{};       // P_final: the plan patch
  std::array<std::int64_t, 3> patch_load{};  // P_load: the training crop (§7.2)
  bool is_2d = false;
  bool dummy_2d = false;
  std::array<double, 3> rotation{};       // θ_d: angles U(−θ_d, θ_d), radians (planar: θ_0 in-plane)
  std::vector<int> mirror_axes;           // array axes that may be flipped (2-D: 1, 2)
  int input_channels = 1;                 // image channels C of the crops
  std::vector<bool> mask_channels;        // use_mask_for_norm per image channel (step 12)
  std::vector<int> foreground_labels;     // cascade: previous stage's labels, in order; empty = none
  std::vector<std::vector<int>> regions;  // foreground regions (region training); empty = labels
  std::optional<int> ignore_label;        // regions: a last target channel (labels == ignore);
                                          // label maps keep the ignore value (the loss masks it)
  std::vector<std::array<std::int64_t, 3>> target_shapes;  // deep-supervision targets, highest
                                                           // resolution first; {patch} without DS
  // 2-D configurations and dummy-2D transform in the plane of axes 1, 2.
  bool planar() const { return is_2d || dummy_2d; }
  int seg_channels() const { return foreground_labels.empty() ? 1 : 2; }
};

// §7.2 from the plan patch (2 or 3 values), by the loader's rule (data/loader/patch.h:
// rotation_and_dummy_2d), with the mirror axes as array axes: 3-D (0, 1, 2), 2-D (1, 2).
struct RotationAndMirroring {
  std::array<double, 3> rotation{};
  bool dummy_2d = false;
  std::vector<int> mirror_axes;
};
RotationAndMirroring rotation_and_mirroring(const std::vector<std::int64_t>& patch);

// make_augment_config: the configuration of a plan.
//   patch: the plan's patch size, 2 or 3 values; P_load = data::enlarged_patch_size (§7.2, A.4)
//   input_channels, use_mask_for_norm: the plan's image channels and their flags (one per channel)
//   pool_strides: the network's pooling strides per stage, first stage included (nnU-Net's
//     pool_op_kernel_sizes, each of patch's length); targets at scales 1 / cumprod(strides)[i] for
//     i = 0 .. stages − 2, extent round(P · scale) (deep_supervision_extent). Empty: no deep
//     supervision (one target of the patch's shape).
//   foreground_labels: the cascade's previous-stage labels (empty: no cascade)
//   regions, ignore_label: region training (empty: label maps)
AugmentConfig make_augment_config(const std::vector<std::int64_t>& patch, int input_channels,
                                  const std::vector<bool>& use_mask_for_norm,
                                  const std::vector<std::vector<std::int64_t>>& pool_strides,
                                  const std::vector<int>& foreground_labels = {},
                                  const std::vector<std::vector<int>>& regions = {},
                                  std::optional<int> ignore_label = std::nullopt);

// All draws of one sample (training).
struct SampleParams {
  SpatialParams spatial;
  IntensityParams intensity;
  unsigned mirror = 0;    // kMirror0/1/2 bits of the axes flipped
  CascadeParams cascade;  // drawn only with a cascade
};
// The draws of batch element `element` (see the order above). Pure: the same arguments give the same
// parameters on every call and device.
SampleParams draw_sample(const AugmentConfig& config, std::uint64_t seed, std::uint32_t iteration,
                         std::uint32_t element);

struct AugmentedBatch {
  Tensor data;                  // (B, X, Y, Z, C_in) channels-last, out_dtype, on ctx's device
  std::vector<Tensor> targets;  // per deep-supervision output, highest resolution first:
                                // i16 (B, x, y, z, 1) labels, or u8 (B, x, y, z, R(+1)) regions
};

// augment_batch: the training (training = true) or validation pipeline above on one batch.
// requires: data f32 (B, C, L0, L1, L2), C = config.input_channels, and seg i16 (B, S, L0, L1, L2),
//           S = config.seg_channels(), on ctx's device; L = config.patch_load (training) or
//           config.patch (validation); out_dtype f32, or bf16 on CUDA; the config consistent
//           (validate_config). first_element: index of data's first sample in the global batch
//           (data-parallel ranks), so every rank draws its own parameters (step 4's noise field is
//           keyed by the local index b, as apply_intensity defines it).
// ensures:  new tensors; data and seg are not modified. C_in = C + foreground_labels.size().
AugmentedBatch augment_batch(const Context& ctx, const Tensor& data, const Tensor& seg, const AugmentConfig& config,
                             std::uint64_t seed, std::uint32_t iteration, bool training, DType out_dtype,
                             std::uint32_t first_element = 0);

// Throws InvalidInput naming the first inconsistent field of `config`.
void validate_config(const AugmentConfig& config);

// CUDA vs CPU for the whole pipeline on the same crops and draws (tests/augment/augment_gpu_test.cpp):
// images within the intensity transforms' tolerance (the spatial and layout steps are exact), plus one
// bf16 rounding step for bf16 output; label targets identical except where a cascade perturbation
// or an fp16-tied label vote resolves differently: at most kAugmentLabelMismatchFraction of voxels.
inline constexpr Tolerance kAugmentImageTolerance = kIntensityTolerance;                     // f32 output
inline constexpr Tolerance kAugmentImageToleranceBf16{kIntensityTolerance.atol, 1.0 / 128};  // bf16 output
inline constexpr double kAugmentLabelMismatchFraction = 1e-3;

}  // namespace nnuc::augment
