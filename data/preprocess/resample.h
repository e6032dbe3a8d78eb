// Resampling (nnunet_method.md §4.3: nnU-Net's resample_data_or_seg_to_shape), reproducing the scipy /
// scikit-image calls it makes.
//
// Images ("data"), per channel: skimage.transform.resize(x, out, order, mode='edge', clip=True,
// anti_aliasing=False), which is scipy.ndimage.zoom(x, grid_mode=True, mode='nearest') followed by a
// clip to [min(x), max(x)]. Per axis, output index o samples the input at
//     cc = ((o + 0.5) * (n_in / n_out) - 0.5) + pad
// Order 3 (cubic B-spline): the input is edge-padded by pad = 12 voxels per side, turned into B-spline
// coefficients with scipy's prefilter (pole sqrt(3) - 2, gain, mirror-boundary initial values), and
// evaluated with scipy's weights at taps floor(cc) - 1 .. floor(cc) + 2, clamped to the padded line.
// Order 1 (linear): taps floor(cc), floor(cc) + 1 (clamped), weights 1 - x, 1 - (1 - x); pad = 0.
// Order 0: tap floor(cc + 0.5) (clamped).
// The tensor-product interpolation is evaluated one axis at a time in double precision (an axis whose
// size does not change is the identity and is skipped), then clipped and cast to float32. scipy sums
// the same products in another order, so the two agree to rounding: see kDataResampleTolerance.
// Memory for one f32 channel of N voxels: the first pass reads the f32 input and the last one writes
// the f32 output (clipping and rounding as it goes), so a three-axis resize holds two double volumes
// between passes and a one-axis resize none; separate z holds one (the in-plane result).
//
// Label maps: batchgenerators' resize_segmentation with order 1: for every label value u present
// (ascending, -1 included), the mask (seg == u) is resized with the linear zoom above and u is written
// where the result >= 0.5; later labels overwrite earlier ones, voxels no label reaches are 0. Here the
// per-voxel sums are formed exactly as scipy forms them (taps in row-major order, product
// ((1 * w0) * w1) * w2, summed in that order), so the result is identical, not merely close.
//
// Separate z (anisotropic data): every slice along the anisotropic axis is resized in-plane (data:
// clipped to that slice's range), then the out-of-plane axis is sampled with order_z (default 0:
// nearest slice, cc = (n_in / n_out) * (o + 0.5) - 0.5, tap floor(cc + 0.5) clamped); label values are
// taken directly when order_z = 0.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "data/preprocess/crop.h"
#include "kernels/core/tensor.h"

namespace nnuc::data {

using Spacing3 = std::array<double, 3>;

// Bound on |nnuc - scipy| for resampled float32 images, relative to the input's largest magnitude
// max(|min x|, |max x|): room for a few float32 roundings, since the double results are summed in
// another order than scipy's before the cast. Measured by tests/data/scipy_parity.py (scipy 1.10.1,
// skimage 0.19.3, generated and real volumes, isotropic and separate-z, up- and downsampling): 0,
// every voxel bit-identical.
constexpr double kDataResampleTolerance = 1e-6;

// nnU-Net's ANISO_THRESHOLD: spacing max/min above this resamples the out-of-plane axis separately.
constexpr double kAnisotropyThreshold = 3.0;

struct SeparateZ {
  bool separate = false;
  int axis = -1;  // the out-of-plane axis when separate
};

// determine_do_sep_z_and_axis: with force unset, separate when max/min of the current spacing > 3
// (axis: where spacing == max), else when the new spacing is (axis from it); an axis set of 2 or 3
// members means no separate z. force = true uses the current spacing's axis, force = false never
// separates.
SeparateZ determine_separate_z(const Spacing3& current_spacing, const Spacing3& new_spacing,
                               std::optional<bool> force_separate_z = std::nullopt);

// new_shape_i = int(round(spacing_i / new_spacing_i * shape_i)), Python's round (half to even).
Shape3 compute_new_shape(const Shape3& shape, const Spacing3& spacing, const Spacing3& new_spacing);

struct ResamplingOptions {
  int order = 3;                         // data: 0, 1 or 3; label maps: 0 or 1
  int order_z = 0;                       // out-of-plane order with separate z: data 0, 1 or 3; label maps 0
  std::optional<bool> force_separate_z;  // nnU-Net plans: None
};

// skimage resize of one volume, see above. in holds in_shape voxels, out receives out_shape voxels.
// requires: order 0, 1 or 3; sizes >= 1.
void resize_volume(const double* in, const Shape3& in_shape, double* out, const Shape3& out_shape, int order);

// resize_segmentation with order 1 (linear one-hot, threshold 0.5) or order 0 (nearest).
void resize_labels(const std::int16_t* in, const Shape3& in_shape, std::int16_t* out, const Shape3& out_shape,
                   int order);

// resample_data_or_seg_to_shape for images: f32 (C, a0, a1, a2) -> f32 (C, new_shape). Returns the
// input itself when the shape does not change.
Tensor resample_data(const Tensor& data, const Shape3& new_shape, const Spacing3& current_spacing,
                     const Spacing3& new_spacing, const ResamplingOptions& options = {});

// resample_data_or_seg_to_shape for label maps: i16 (a0, a1, a2) -> i16 new_shape (order 1 unless
// options say otherwise). Returns the input itself when the shape does not change.
Tensor resample_seg(const Tensor& seg, const Shape3& new_shape, const Spacing3& current_spacing,
                    const Spacing3& new_spacing, const ResamplingOptions& options = {1, 0, std::nullopt});

}  // namespace nnuc::data
