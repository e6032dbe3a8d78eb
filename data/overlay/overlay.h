// Overlay pictures for visual checks of a dataset (nnU-Net's nnUNetv2_plot_overlay_pngs,
// nnunetv2/utilities/overlay_plots.py): one slice of a case's image with its labels blended in, the
// slice chosen where the labels are. The arithmetic follows nnU-Net's exactly, so the two tools give
// the same pixels for the same arrays.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace nnuc::data {

// nnU-Net's color_cycle: label value -> color by the label's rank among the values present in the
// slice (rank 0, usually the background, is black: nothing is added).
constexpr int kOverlayColors = 15;
extern const std::array<std::array<std::uint8_t, 3>, kOverlayColors> kOverlayColorCycle;

// The slice along the first axis of seg (shape a0 x a1 x a2) to plot: nnU-Net's
// select_slice_to_plot2. For each label > 0 present in the volume (ascending), the per-slice voxel
// counts form a column that is divided by the sum of the whole matrix so far (nnU-Net's in-place
// normalization: the first column by its own total, each later one by its total plus the number of
// columns before it); the slice with the largest mean over the columns wins, the first one on ties.
// A volume without labels > 0 gives slice 0 (nnU-Net: argmax over all-NaN means).
std::int64_t select_overlay_slice(const std::int16_t* seg, const std::array<std::int64_t, 3>& shape);

// One slice (height x width, row-major) of image and labels -> RGB bytes (height x width x 3):
// nnU-Net's generate_overlay. The image is shifted to a minimum of 0 and scaled to a maximum of 255
// (a constant slice stays 0 where nnU-Net divides by zero), each label value present adds
// overlay_intensity * its color (kOverlayColorCycle[rank]; ranks past the 15 colors start the cycle
// again, where nnU-Net fails), the sum is scaled to a maximum of 255 again and truncated to bytes.
// Labels < 0 (the preprocessed seg's outside-the-mask value) count as 0, as nnU-Net sets them.
std::vector<std::uint8_t> overlay_rgb(const float* image, const std::int16_t* seg, std::int64_t height,
                                      std::int64_t width, double overlay_intensity = 0.6);

}  // namespace nnuc::data
