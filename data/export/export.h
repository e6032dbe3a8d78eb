// Export of a prediction (nnunet_method.md §8.4, nnU-Net's
// convert_predicted_logits_to_segmentation_with_correct_shape): the network's logits, at the
// configuration's spacing in transposed and cropped axes, become a label map (and optionally
// probabilities) in the reader's axis order and the case's original shape.
//
// Steps, per case:
//   1. resample the logits (K, b0, b1, b2) to shape_after_cropping_and_before_resampling with the
//      plans' resampling_fn_probabilities_kwargs (order 1, order_z 0, separate-z rule of §4.3); current
//      spacing = the configuration's spacing (2d: [case spacing of transposed axis 0] + its 2 values),
//      new spacing = the case's spacing transposed with transpose_forward;
//   2. label map: argmax over the channels (softmax), or, for regions, 0 then label
//      regions_class_order[i] wherever sigmoid(channel i) > 0.5, channel after channel;
//   3. un-crop into shape_before_cropping at bbox_used_for_cropping (0 outside);
//   4. un-transpose with transpose_backward.
//   Probabilities: softmax (regions: sigmoid) of the resampled logits, un-cropped with background
//   channel 1 and the others 0 outside the bbox (regions: all 0), un-transposed.
//
// Resampling is data/preprocess/resample.h's resample_data, computed channel by channel on slabs of
// output rows (axis 0) so that its double-precision work buffers stay small; the values are bit for
// bit those of resample_data (tests/data/export_test.cpp). Each slab is turned into labels and
// probabilities at once and written straight into the un-cropped, un-transposed outputs, so the
// largest buffers are the outputs themselves (seg: 1-2 bytes per voxel; probabilities: K f32 per
// voxel) and the caller's logits: a 512 x 512 x 1000 case with 3 classes needs about 3.1 GB for the
// probabilities and 262 MB for the label map, plus ~100 MB of slabs.
//
// Differences from nnU-Net, all at the level of float rounding:
//   - the argmax is taken over the resampled f32 logits also when probabilities are requested
//     (nnU-Net then takes it over torch's float32 softmax, which can round two channels to the same
//     value); so the label map does not depend on --save_probabilities;
//   - softmax and sigmoid are computed in double from the f32 logits and rounded once to f32
//     (torch computes in float32): see kExportProbabilityTolerance.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/preprocess/preprocess_case.h"
#include "data/preprocess/resample.h"
#include "kernels/core/tensor.h"

namespace nnuc::data {

// Bound on |nnuc - nnU-Net| for exported probabilities (f32, in [0, 1]): double vs float32 softmax
// over identically resampled f32 logits. Measured on tests/data/fixtures/export_parity.npz
// (nnunetv2 2.8.1, torch 2.15): 1.2e-7 at most (tests/data/export_test.cpp prints it).
constexpr double kExportProbabilityTolerance = 1e-6;

// One configuration's export settings, from the plans and dataset.json.
struct ExportPlan {
  std::array<int, 3> transpose_forward{0, 1, 2};
  std::array<int, 3> transpose_backward{0, 1, 2};
  std::vector<double> configuration_spacing;  // the configuration's spacing: 3 values, or 2 for 2d; transposed axes
  ResamplingOptions probabilities_resampling{1, 0, std::nullopt};  // resampling_fn_probabilities_kwargs
  bool has_regions = false;
  std::vector<int> regions_class_order;  // region mode: the label written for channel i
  int num_foreground_labels = 1;         // >= 255 -> 16-bit label maps (nnU-Net's uint16 rule)
};

struct ExportedPrediction {
  // u8 (a0, a1, a2) in the reader's axis order and original shape; i16 when the plan has >= 255
  // foreground labels (nnU-Net writes uint16 there; nnuc's label maps are int16 throughout, and
  // write_nifti_label stores values >= 255 as uint16 on disk, so the file is the same).
  Tensor segmentation;
  // f32 (K, a0, a1, a2) in the reader's axis order; only when requested.
  Tensor probabilities;
};

// Steps 1-4 above.
// requires: logits f32 (K, b0, b1, b2) on the host, K >= 1; properties consistent
//   (bbox inside shape_before_cropping, bbox shape == shape_after_cropping_and_before_resampling,
//   spacing > 0); transpose_backward the inverse of transpose_forward; configuration_spacing of 2 or
//   3 values > 0; regions: regions_class_order.size() == K; every label written fits the label
//   map's dtype. InvalidInput naming the field otherwise.
// ensures: segmentation and (with_probabilities) probabilities as above; the logits are not changed.
ExportedPrediction export_prediction(const Tensor& logits, const CaseProperties& properties, const ExportPlan& plan,
                                     bool with_probabilities);

// Writes the label map as NIfTI with exactly the input's geometry (properties.reader_properties
// "geometry", nifti_geometry_from_json): uint8 when its largest value is < 255, else uint16;
// atomically (write_nifti_label: temp file, verify, rename). `path` ends in .nii or .nii.gz.
// requires: segmentation u8 or i16 (a0, a1, a2) equal to the geometry's shape, values >= 0.
void write_segmentation(const std::string& path, const Tensor& segmentation, const CaseProperties& properties);

namespace testing_only {
// Makes export_prediction resample slabs of about `values` output values (all channels together) so
// that tests cross many slab boundaries on small cases; <= 0 restores the default.
void set_export_slab_values(std::int64_t values);
}  // namespace testing_only

}  // namespace nnuc::data
