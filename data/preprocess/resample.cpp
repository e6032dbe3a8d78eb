#include "data/preprocess/resample.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "data/preprocess/resample_kernels.h"
#include "kernels/core/error.h"
#include "kernels/core/nvtx.h"

namespace nnuc::data {

using resampling::AxisTaps;
using resampling::zoom_taps;

namespace {

std::int64_t volume(const Shape3& shape) { return shape[0] * shape[1] * shape[2]; }

void check_shape3(const Shape3& shape, const char* name) {
  NNUC_CHECK(shape[0] >= 1 && shape[1] >= 1 && shape[2] >= 1, name, " must have sizes >= 1, got (", shape[0], ", ",
             shape[1], ", ", shape[2], ")");
}

void check_spacing(const Spacing3& spacing, const char* name) {
  for (double value : spacing)
    NNUC_CHECK(std::isfinite(value) && value > 0, name, " must be finite and > 0, got ", value);
}

// Axes where the spacing equals its maximum, found as nnU-Net does: max(sp) / sp == 1.
std::vector<int> lowres_axes(const Spacing3& spacing) {
  const double largest = std::max({spacing[0], spacing[1], spacing[2]});
  std::vector<int> axes;
  for (int axis = 0; axis < 3; ++axis)
    if (largest / spacing[axis] == 1.0) axes.push_back(axis);
  return axes;
}

bool is_anisotropic(const Spacing3& spacing) {
  const double largest = std::max({spacing[0], spacing[1], spacing[2]});
  const double smallest = std::min({spacing[0], spacing[1], spacing[2]});
  return largest / smallest > kAnisotropyThreshold;
}

// The (outer, length, inner) view of a (n0, n1, n2) array along `axis`.
void axis_view(const Shape3& shape, int axis, std::int64_t& outer, std::int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int a = 0; a < axis; ++a) outer *= shape[static_cast<std::size_t>(a)];
  for (int a = axis + 1; a < 3; ++a) inner *= shape[static_cast<std::size_t>(a)];
}

// One axis pass of any order along `axis`, returning the new buffer.
std::vector<double> pass(const double* in, const Shape3& shape, int axis, std::int64_t out_size, int order) {
  const AxisTaps taps = zoom_taps(shape[static_cast<std::size_t>(axis)], out_size, order);
  std::int64_t outer, inner;
  axis_view(shape, axis, outer, inner);
  std::vector<double> out(static_cast<std::size_t>(outer * out_size * inner));
  resampling::resample_axis(in, outer, inner, taps, out.data());
  return out;
}

// Label taps of one axis: order 1 (two taps and weights) or order 0 (one tap).
struct LabelAxis {
  std::vector<std::int64_t> index;  // taps per output index
  std::vector<double> weight;
};

LabelAxis label_axis(std::int64_t length, std::int64_t out, int order) {
  const AxisTaps taps = zoom_taps(length, out, order);
  return {taps.index, taps.weight};
}

void nearest_along_axis_i16(const std::int16_t* in, const Shape3& in_shape, int axis, std::int64_t out_size,
                            std::int16_t* out) {
  const AxisTaps taps = zoom_taps(in_shape[static_cast<std::size_t>(axis)], out_size, 0);
  std::int64_t outer, inner;
  axis_view(in_shape, axis, outer, inner);
  const std::int64_t length = in_shape[static_cast<std::size_t>(axis)];
  for (std::int64_t a = 0; a < outer; ++a)
    for (std::int64_t o = 0; o < out_size; ++o) {
      const std::int16_t* from = in + (a * length + taps.index[static_cast<std::size_t>(o)]) * inner;
      std::copy(from, from + inner, out + (a * out_size + o) * inner);
    }
}

}  // namespace

SeparateZ determine_separate_z(const Spacing3& current_spacing, const Spacing3& new_spacing,
                               std::optional<bool> force_separate_z) {
  check_spacing(current_spacing, "current spacing");
  check_spacing(new_spacing, "new spacing");
  SeparateZ result;
  std::vector<int> axes;
  if (force_separate_z.has_value()) {
    result.separate = *force_separate_z;
    if (result.separate) axes = lowres_axes(current_spacing);
  } else if (is_anisotropic(current_spacing)) {
    result.separate = true;
    axes = lowres_axes(current_spacing);
  } else if (is_anisotropic(new_spacing)) {
    result.separate = true;
    axes = lowres_axes(new_spacing);
  }
  if (!result.separate) return result;
  if (axes.size() != 1) return SeparateZ{};  // e.g. (0.24, 1.25, 1.25): two axes share the max
  result.axis = axes[0];
  return result;
}

Shape3 compute_new_shape(const Shape3& shape, const Spacing3& spacing, const Spacing3& new_spacing) {
  check_spacing(spacing, "spacing");
  check_spacing(new_spacing, "new spacing");
  Shape3 result{};
  for (int axis = 0; axis < 3; ++axis) {
    const double scaled = spacing[axis] / new_spacing[axis] * static_cast<double>(shape[axis]);
    result[axis] = static_cast<std::int64_t>(std::nearbyint(scaled));  // ties to even, as Python's round
  }
  return result;
}

namespace {

// The axes whose size changes, the strongest reduction first (less work for the later passes).
std::vector<int> resize_pass_axes(const Shape3& in_shape, const Shape3& out_shape) {
  std::vector<int> axes;
  for (int axis = 0; axis < 3; ++axis)
    if (in_shape[axis] != out_shape[axis]) axes.push_back(axis);
  std::stable_sort(axes.begin(), axes.end(), [&](int a, int b) {
    return static_cast<double>(out_shape[a]) / static_cast<double>(in_shape[a]) <
           static_cast<double>(out_shape[b]) / static_cast<double>(in_shape[b]);
  });
  return axes;
}

// resize_volume of one f32 channel, cast to f32, without its double copies: the first pass reads the
// f32 input and the last one clips and writes the f32 output, so only the volumes between passes are
// double (none for one pass, one for two, two for three). The same sums as resize_volume, bit for bit.
void resize_channel_f32(const float* in, const Shape3& in_shape, float* out, const Shape3& out_shape, int order) {
  const std::int64_t count = volume(in_shape);
  const auto [low, high] = std::minmax_element(in, in + count);
  const double minimum = *low, maximum = *high;
  const std::vector<int> axes = resize_pass_axes(in_shape, out_shape);
  if (axes.empty()) {
    std::transform(in, in + count, out,
                   [&](float v) { return static_cast<float>(std::min(std::max(double(v), minimum), maximum)); });
    return;
  }
  std::vector<double> current;
  Shape3 shape = in_shape;
  for (std::size_t k = 0; k < axes.size(); ++k) {
    const int axis = axes[k];
    const resampling::AxisTaps taps = zoom_taps(shape[static_cast<std::size_t>(axis)], out_shape[axis], order);
    std::int64_t outer, inner;
    axis_view(shape, axis, outer, inner);
    if (k + 1 == axes.size()) {
      if (k == 0)
        resampling::resample_axis(in, outer, inner, taps, out, minimum, maximum);
      else
        resampling::resample_axis(current.data(), outer, inner, taps, out, minimum, maximum);
    } else {
      std::vector<double> next(static_cast<std::size_t>(outer * out_shape[axis] * inner));
      if (k == 0)
        resampling::resample_axis(in, outer, inner, taps, next.data());
      else
        resampling::resample_axis(current.data(), outer, inner, taps, next.data());
      current.swap(next);
    }
    shape[axis] = out_shape[axis];
  }
}

}  // namespace

void resize_volume(const double* in, const Shape3& in_shape, double* out, const Shape3& out_shape, int order) {
  check_shape3(in_shape, "resize input");
  check_shape3(out_shape, "resize output");
  NNUC_CHECK(order == 0 || order == 1 || order == 3, "resize: order must be 0, 1 or 3, got ", order);
  const std::int64_t count = volume(in_shape);
  const auto [low, high] = std::minmax_element(in, in + count);
  const double minimum = *low, maximum = *high;
  const std::vector<int> axes = resize_pass_axes(in_shape, out_shape);
  std::vector<double> current;
  const double* source = in;
  Shape3 shape = in_shape;
  for (int axis : axes) {
    std::vector<double> next = pass(source, shape, axis, out_shape[axis], order);
    shape[axis] = out_shape[axis];
    current.swap(next);
    source = current.data();
  }
  const std::int64_t out_count = volume(out_shape);
  for (std::int64_t i = 0; i < out_count; ++i) out[i] = std::min(std::max(source[i], minimum), maximum);
}

void resize_labels(const std::int16_t* in, const Shape3& in_shape, std::int16_t* out, const Shape3& out_shape,
                   int order) {
  check_shape3(in_shape, "label resize input");
  check_shape3(out_shape, "label resize output");
  NNUC_CHECK(order == 0 || order == 1, "label maps are resized with order 0 or 1, got ", order);
  if (order == 0) {
    std::vector<std::int16_t> a(static_cast<std::size_t>(out_shape[0] * in_shape[1] * in_shape[2]));
    nearest_along_axis_i16(in, in_shape, 0, out_shape[0], a.data());
    std::vector<std::int16_t> b(static_cast<std::size_t>(out_shape[0] * out_shape[1] * in_shape[2]));
    nearest_along_axis_i16(a.data(), {out_shape[0], in_shape[1], in_shape[2]}, 1, out_shape[1], b.data());
    nearest_along_axis_i16(b.data(), {out_shape[0], out_shape[1], in_shape[2]}, 2, out_shape[2], out);
    return;
  }
  const LabelAxis axis0 = label_axis(in_shape[0], out_shape[0], 1);
  const LabelAxis axis1 = label_axis(in_shape[1], out_shape[1], 1);
  const LabelAxis axis2 = label_axis(in_shape[2], out_shape[2], 1);
  const std::int64_t n1 = in_shape[1], n2 = in_shape[2];
#pragma omp parallel for schedule(static)
  for (std::int64_t o0 = 0; o0 < out_shape[0]; ++o0) {
    for (std::int64_t o1 = 0; o1 < out_shape[1]; ++o1) {
      for (std::int64_t o2 = 0; o2 < out_shape[2]; ++o2) {
        // Per label present at the 8 taps, the interpolated one-hot value, summed in scipy's tap
        // order (row-major over the taps) with scipy's product order.
        std::int16_t labels[8];
        double sums[8];
        int present = 0;
        for (int f0 = 0; f0 < 2; ++f0) {
          const std::int64_t i0 = axis0.index[static_cast<std::size_t>(2 * o0 + f0)];
          const double w0 = axis0.weight[static_cast<std::size_t>(2 * o0 + f0)];
          for (int f1 = 0; f1 < 2; ++f1) {
            const std::int64_t i1 = axis1.index[static_cast<std::size_t>(2 * o1 + f1)];
            const double w01 = w0 * axis1.weight[static_cast<std::size_t>(2 * o1 + f1)];
            for (int f2 = 0; f2 < 2; ++f2) {
              const std::int64_t i2 = axis2.index[static_cast<std::size_t>(2 * o2 + f2)];
              const double product = w01 * axis2.weight[static_cast<std::size_t>(2 * o2 + f2)];
              const std::int16_t label = in[(i0 * n1 + i1) * n2 + i2];
              int slot = 0;
              while (slot < present && labels[slot] != label) ++slot;
              if (slot == present) {
                labels[present] = label;
                sums[present] = 0.0;
                ++present;
              }
              sums[slot] += product;
            }
          }
        }
        // Labels are written in ascending order, so the largest one reaching 0.5 wins; none: 0.
        bool found = false;
        std::int16_t winner = 0;
        for (int slot = 0; slot < present; ++slot) {
          if (sums[slot] >= 0.5 && (!found || labels[slot] > winner)) {
            winner = labels[slot];
            found = true;
          }
        }
        out[(o0 * out_shape[1] + o1) * out_shape[2] + o2] = winner;
      }
    }
  }
}

namespace {

// The two in-plane axes of `axis` and the slice shape (1, n_a, n_b) they form.
void in_plane_axes(int axis, int& a, int& b) {
  a = axis == 0 ? 1 : 0;
  b = axis == 2 ? 1 : 2;
}

// Copies slice `index` along `axis` of a (n0, n1, n2) array into a contiguous (n_a, n_b) buffer, or
// back. T is the element type of the volume, U of the slice.
template <typename T, typename U>
void copy_slice(const T* volume_data, const Shape3& shape, int axis, std::int64_t index, U* slice) {
  int a, b;
  in_plane_axes(axis, a, b);
  std::int64_t at[3];
  at[axis] = index;
  std::size_t k = 0;
  for (std::int64_t i = 0; i < shape[a]; ++i)
    for (std::int64_t j = 0; j < shape[b]; ++j, ++k) {
      at[a] = i;
      at[b] = j;
      slice[k] = static_cast<U>(volume_data[(at[0] * shape[1] + at[1]) * shape[2] + at[2]]);
    }
}

template <typename T, typename U>
void place_slice(const U* slice, T* volume_data, const Shape3& shape, int axis, std::int64_t index) {
  int a, b;
  in_plane_axes(axis, a, b);
  std::int64_t at[3];
  at[axis] = index;
  std::size_t k = 0;
  for (std::int64_t i = 0; i < shape[a]; ++i)
    for (std::int64_t j = 0; j < shape[b]; ++j, ++k) {
      at[a] = i;
      at[b] = j;
      volume_data[(at[0] * shape[1] + at[1]) * shape[2] + at[2]] = static_cast<T>(slice[k]);
    }
}

// Source slice per output slice along the out-of-plane axis for order 0 (map_coordinates, nearest).
std::vector<std::int64_t> nearest_slices(std::int64_t in_size, std::int64_t out_size) {
  const AxisTaps taps = zoom_taps(in_size, out_size, 0);
  return taps.index;
}

// Data, separate z: in-plane resize per slice (order, clipped per slice), then order_z along `axis`.
void resample_channel_separate_z(const float* in, const Shape3& in_shape, float* out, const Shape3& out_shape, int axis,
                                 int order, int order_z) {
  int a, b;
  in_plane_axes(axis, a, b);
  const Shape3 slice_in{1, in_shape[a], in_shape[b]};
  const Shape3 slice_out{1, out_shape[a], out_shape[b]};
  const bool z_changes = in_shape[axis] != out_shape[axis];
  // Which input slices are needed: all when z is interpolated, only the chosen ones for nearest.
  std::vector<std::uint8_t> needed(static_cast<std::size_t>(in_shape[axis]), 1);
  std::vector<std::int64_t> chosen;
  if (z_changes && order_z == 0) {
    chosen = nearest_slices(in_shape[axis], out_shape[axis]);
    std::fill(needed.begin(), needed.end(), 0);
    for (std::int64_t s : chosen) needed[static_cast<std::size_t>(s)] = 1;
  }
  Shape3 here_shape = out_shape;
  here_shape[axis] = in_shape[axis];
  std::vector<double> here(static_cast<std::size_t>(volume(here_shape)), 0.0);
  std::vector<double> slice(static_cast<std::size_t>(volume(slice_in)));
  std::vector<double> resized(static_cast<std::size_t>(volume(slice_out)));
  for (std::int64_t s = 0; s < in_shape[axis]; ++s) {
    if (!needed[static_cast<std::size_t>(s)]) continue;
    copy_slice(in, in_shape, axis, s, slice.data());
    resize_volume(slice.data(), slice_in, resized.data(), slice_out, order);
    place_slice(resized.data(), here.data(), here_shape, axis, s);
  }
  if (!z_changes) {
    std::transform(here.begin(), here.end(), out, [](double v) { return static_cast<float>(v); });
    return;
  }
  // The last pass rounds to f32 as it writes (no clipping after it: the slices were clipped in plane).
  const resampling::AxisTaps taps = zoom_taps(here_shape[static_cast<std::size_t>(axis)], out_shape[axis], order_z);
  std::int64_t outer, inner;
  axis_view(here_shape, axis, outer, inner);
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  resampling::resample_axis(here.data(), outer, inner, taps, out, -kInfinity, kInfinity);
}

void resample_seg_separate_z(const std::int16_t* in, const Shape3& in_shape, std::int16_t* out, const Shape3& out_shape,
                             int axis, int order) {
  int a, b;
  in_plane_axes(axis, a, b);
  const Shape3 slice_in{1, in_shape[a], in_shape[b]};
  const Shape3 slice_out{1, out_shape[a], out_shape[b]};
  Shape3 here_shape = out_shape;
  here_shape[axis] = in_shape[axis];
  std::vector<std::int16_t> here(static_cast<std::size_t>(volume(here_shape)));
  std::vector<std::int16_t> slice(static_cast<std::size_t>(volume(slice_in)));
  std::vector<std::int16_t> resized(static_cast<std::size_t>(volume(slice_out)));
  for (std::int64_t s = 0; s < in_shape[axis]; ++s) {
    copy_slice(in, in_shape, axis, s, slice.data());
    resize_labels(slice.data(), slice_in, resized.data(), slice_out, order);
    place_slice(resized.data(), here.data(), here_shape, axis, s);
  }
  if (in_shape[axis] == out_shape[axis]) {
    std::copy(here.begin(), here.end(), out);
    return;
  }
  nearest_along_axis_i16(here.data(), here_shape, axis, out_shape[axis], out);
}

}  // namespace

Tensor resample_data(const Tensor& data, const Shape3& new_shape, const Spacing3& current_spacing,
                     const Spacing3& new_spacing, const ResamplingOptions& options) {
  NNUC_RANGE("resample_data");
  check_dtype(data, DType::f32, "data");
  NNUC_CHECK(data.device() == Device::CPU && data.rank() == 4, "data must be a host (C, a0, a1, a2) tensor, got ",
             data.describe());
  check_shape3(new_shape, "new_shape");
  NNUC_CHECK(options.order == 0 || options.order == 1 || options.order == 3,
             "data resampling order must be 0, 1 or 3, got ", options.order);
  NNUC_CHECK(options.order_z == 0 || options.order_z == 1 || options.order_z == 3,
             "data resampling order_z must be 0, 1 or 3, got ", options.order_z);
  const Shape3 in_shape{data.dim(1), data.dim(2), data.dim(3)};
  check_shape3(in_shape, "data");
  const SeparateZ separate = determine_separate_z(current_spacing, new_spacing, options.force_separate_z);
  if (in_shape == new_shape) return data;
  const std::int64_t channels = data.dim(0);
  Tensor result = Tensor::empty_cpu(Shape{channels, new_shape[0], new_shape[1], new_shape[2]}, DType::f32);
  const std::int64_t in_count = volume(in_shape), out_count = volume(new_shape);
  for (std::int64_t c = 0; c < channels; ++c) {
    const float* source = data.data<float>() + c * in_count;
    float* target = result.data<float>() + c * out_count;
    if (separate.separate) {
      resample_channel_separate_z(source, in_shape, target, new_shape, separate.axis, options.order, options.order_z);
      continue;
    }
    resize_channel_f32(source, in_shape, target, new_shape, options.order);
  }
  return result;
}

Tensor resample_seg(const Tensor& seg, const Shape3& new_shape, const Spacing3& current_spacing,
                    const Spacing3& new_spacing, const ResamplingOptions& options) {
  NNUC_RANGE("resample_seg");
  check_dtype(seg, DType::i16, "seg");
  NNUC_CHECK(seg.device() == Device::CPU && seg.rank() == 3, "seg must be a host (a0, a1, a2) tensor, got ",
             seg.describe());
  check_shape3(new_shape, "new_shape");
  NNUC_CHECK(options.order == 0 || options.order == 1, "label maps are resampled with order 0 or 1, got ",
             options.order);
  NNUC_CHECK(options.order_z == 0, "label maps are resampled with order_z 0 out of plane, got ", options.order_z);
  const Shape3 in_shape{seg.dim(0), seg.dim(1), seg.dim(2)};
  check_shape3(in_shape, "seg");
  const SeparateZ separate = determine_separate_z(current_spacing, new_spacing, options.force_separate_z);
  if (in_shape == new_shape) return seg;
  Tensor result = Tensor::empty_cpu(Shape{new_shape[0], new_shape[1], new_shape[2]}, DType::i16);
  if (separate.separate) {
    resample_seg_separate_z(seg.data<std::int16_t>(), in_shape, result.data<std::int16_t>(), new_shape, separate.axis,
                            options.order);
  } else {
    resize_labels(seg.data<std::int16_t>(), in_shape, result.data<std::int16_t>(), new_shape, options.order);
  }
  return result;
}

}  // namespace nnuc::data
