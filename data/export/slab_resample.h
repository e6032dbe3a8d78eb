// Internal to data/export: resample_data (data/preprocess/resample.h) of one channel, evaluated for a
// slab of output rows along axis 0, with bit-for-bit the values resample_data gives.
//
// resample_data resizes a channel with one-axis passes in double precision (data/preprocess/
// resample_kernels.h), then clips and casts to f32. A pass along axis 1 or 2 treats every row of
// axis 0 on its own, and a pass along axis 0 of order 0 or 1 reads, for output rows [r0, r1), only
// the input rows between the first tap of r0 and the last tap of r1 - 1. So a slab of output rows
// needs only a slab of input rows, and running the same passes in the same order on it gives the
// same sums. Order 3 along axis 0 (its prefilter runs along the whole line) cannot be split: the
// slab is then the whole channel.
#pragma once

#include <cstdint>
#include <vector>

#include "data/preprocess/resample.h"
#include "data/preprocess/resample_kernels.h"

namespace nnuc::data::export_detail {

class SlabResampler {
 public:
  // The resampling resample_data(data, out_shape, current_spacing, new_spacing, options) does.
  // requires: valid spacings and options (as resample_data), sizes >= 1.
  SlabResampler(const Shape3& in_shape, const Shape3& out_shape, const Spacing3& current_spacing,
                const Spacing3& new_spacing, const ResamplingOptions& options);

  // The clipping range of one channel: its min/max, or per slice along the separate-z axis.
  struct ChannelRange {
    std::vector<double> low, high;
  };
  // requires: channel holds in_shape voxels (f32, row-major).
  ChannelRange channel_range(const float* channel) const;

  // How many output rows (axis 0) one call should cover to touch about `voxels` output voxels: at
  // least 1; all rows when axis 0 cannot be split.
  std::int64_t rows_per_slab(std::int64_t voxels) const;

  // Output rows [row_begin, row_end) of the resampled channel into out ((row_end - row_begin), o1, o2).
  // requires: range from channel_range(channel); 0 <= row_begin < row_end <= out_shape[0]; when axis
  //   0 cannot be split, the whole range.
  void resample(const float* channel, const ChannelRange& range, std::int64_t row_begin, std::int64_t row_end,
                float* out) const;

 private:
  struct Pass {
    int axis = 0;
    resampling::AxisTaps taps;
  };
  Shape3 in_shape_, out_shape_;
  bool identity_ = false;
  int clip_axis_ = -1;             // -1: clip to the channel's range; else per slice along this axis
  std::vector<Pass> before_clip_;  // the passes, in resample_data's order
  std::vector<Pass> after_clip_;   // separate z: the out-of-plane pass (order_z)
  bool splittable_ = true;         // axis 0 has no order-3 pass
};

}  // namespace nnuc::data::export_detail
