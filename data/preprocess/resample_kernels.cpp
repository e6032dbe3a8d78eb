#include "data/preprocess/resample_kernels.h"

#include <algorithm>
#include <cmath>

#include "kernels/core/error.h"

namespace nnuc::data::resampling {
namespace {

// sqrt(3) - 2, the pole of the cubic B-spline prefilter (scipy's get_filter_poles).
constexpr double kPole3 = -0.267949192431122706472553658494127633;
// Columns of the contiguous axis handled together by one worker in resample_axis.
constexpr std::int64_t kColumnBlock = 64;

}  // namespace

void spline_weights(double x, int order, double* weights) {
  x -= std::floor((order & 1) ? x : x + 0.5);
  if (order == 1) {
    weights[0] = 1.0 - x;
  } else if (order == 3) {
    const double y = x;
    const double z = 1.0 - x;
    weights[1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
    weights[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
    weights[0] = z * z * z / 6.0;
  } else {
    NNUC_THROW(InvalidInput, "spline_weights: order ", order, " is not supported (1 or 3)");
  }
  // All weights add up to 1; scipy derives the last one from the others.
  weights[order] = 1.0;
  for (int i = 0; i < order; ++i) weights[order] -= weights[i];
}

AxisTaps zoom_taps(std::int64_t length, std::int64_t out, int order) {
  NNUC_CHECK(order == 0 || order == 1 || order == 3, "resampling order must be 0, 1 or 3, got ", order);
  NNUC_CHECK(length >= 1 && out >= 1, "resampling needs sizes >= 1, got ", length, " -> ", out);
  AxisTaps taps;
  taps.order = order;
  taps.taps = order + 1;
  taps.pad = order >= 2 ? kSplinePad : 0;
  taps.length = length;
  const std::int64_t padded = length + 2 * taps.pad;
  const double zoom = static_cast<double>(length) / static_cast<double>(out);
  taps.index.resize(static_cast<std::size_t>(out * taps.taps));
  if (order > 0) taps.weight.resize(static_cast<std::size_t>(out * taps.taps));
  for (std::int64_t o = 0; o < out; ++o) {
    double cc = static_cast<double>(o);
    cc += 0.5;
    cc *= zoom;
    cc -= 0.5;
    cc += static_cast<double>(taps.pad);
    const std::int64_t start = (order & 1) ? static_cast<std::int64_t>(std::floor(cc)) - order / 2
                                           : static_cast<std::int64_t>(std::floor(cc + 0.5)) - order / 2;
    for (int h = 0; h < taps.taps; ++h) {
      taps.index[static_cast<std::size_t>(o * taps.taps + h)] = std::clamp<std::int64_t>(start + h, 0, padded - 1);
    }
    if (order > 0) spline_weights(cc, order, &taps.weight[static_cast<std::size_t>(o * taps.taps)]);
  }
  return taps;
}

void prefilter_order3(double* line, std::int64_t length, std::int64_t count) {
  if (length <= 1) return;  // scipy leaves lines of length 1 alone
  const double z = kPole3;
  const double gain = (1.0 - z) * (1.0 - 1.0 / z);
  auto at = [&](std::int64_t k, std::int64_t j) -> double& { return line[k * count + j]; };
  for (std::int64_t i = 0; i < length * count; ++i) line[i] *= gain;
  // Causal initial value, mirror boundary (scipy's _init_causal_mirror).
  const double z_n_1 = std::pow(z, static_cast<double>(length - 1));
  for (std::int64_t j = 0; j < count; ++j) {
    double c0 = at(0, j) + z_n_1 * at(length - 1, j);
    double z_i = z;
    for (std::int64_t i = 1; i < length - 1; ++i) {
      c0 += z_i * (at(i, j) + z_n_1 * at(length - 1 - i, j));
      z_i *= z;
    }
    at(0, j) = c0 / (1 - z_n_1 * z_n_1);
  }
  for (std::int64_t k = 1; k < length; ++k)
    for (std::int64_t j = 0; j < count; ++j) at(k, j) += z * at(k - 1, j);
  // Anticausal initial value, mirror boundary (_init_anticausal_mirror).
  for (std::int64_t j = 0; j < count; ++j)
    at(length - 1, j) = (z * at(length - 2, j) + at(length - 1, j)) * z / (z * z - 1);
  for (std::int64_t k = length - 2; k >= 0; --k)
    for (std::int64_t j = 0; j < count; ++j) at(k, j) = z * (at(k + 1, j) - at(k, j));
}

namespace {

// resample_axis for any input element type (converted to double exactly on the gather) and any
// output: out[i] = finish(sum), with the sums of the double version.
template <typename In, typename Out, typename Finish>
void resample_axis_impl(const In* in, std::int64_t outer, std::int64_t inner, const AxisTaps& taps, Out* out,
                        Finish finish) {
  const std::int64_t length = taps.length;
  const std::int64_t padded = length + 2 * taps.pad;
  const std::int64_t out_length = static_cast<std::int64_t>(taps.index.size()) / taps.taps;
  const std::int64_t blocks_per_outer = (inner + kColumnBlock - 1) / kColumnBlock;
  const std::int64_t work = outer * blocks_per_outer;
#pragma omp parallel
  {
    std::vector<double> buffer(static_cast<std::size_t>(padded * std::min(inner, kColumnBlock)));
#pragma omp for schedule(static)
    for (std::int64_t item = 0; item < work; ++item) {
      const std::int64_t o_outer = item / blocks_per_outer;
      const std::int64_t first = (item % blocks_per_outer) * kColumnBlock;
      const std::int64_t count = std::min(kColumnBlock, inner - first);
      const In* source = in + o_outer * length * inner + first;
      // Gather with edge padding: padded row r holds input row clamp(r - pad, 0, length - 1).
      for (std::int64_t r = 0; r < padded; ++r) {
        const std::int64_t row = std::clamp<std::int64_t>(r - taps.pad, 0, length - 1);
        const In* from = source + row * inner;
        double* to = buffer.data() + r * count;
        for (std::int64_t j = 0; j < count; ++j) to[j] = static_cast<double>(from[j]);
      }
      if (taps.order == 3) prefilter_order3(buffer.data(), padded, count);
      Out* target = out + o_outer * out_length * inner + first;
      for (std::int64_t o = 0; o < out_length; ++o) {
        const std::int64_t* index = &taps.index[static_cast<std::size_t>(o * taps.taps)];
        Out* to = target + o * inner;
        if (taps.order == 0) {
          const double* from = buffer.data() + index[0] * count;
          for (std::int64_t j = 0; j < count; ++j) to[j] = finish(from[j]);
          continue;
        }
        const double* weight = &taps.weight[static_cast<std::size_t>(o * taps.taps)];
        for (std::int64_t j = 0; j < count; ++j) {
          double sum = 0.0;
          for (int h = 0; h < taps.taps; ++h) sum += buffer[static_cast<std::size_t>(index[h] * count + j)] * weight[h];
          to[j] = finish(sum);
        }
      }
    }
  }
}

struct Keep {
  double operator()(double value) const { return value; }
};

struct ClipToF32 {
  double low, high;
  float operator()(double value) const { return static_cast<float>(std::min(std::max(value, low), high)); }
};

}  // namespace

void resample_axis(const double* in, std::int64_t outer, std::int64_t inner, const AxisTaps& taps, double* out) {
  resample_axis_impl(in, outer, inner, taps, out, Keep{});
}

void resample_axis(const float* in, std::int64_t outer, std::int64_t inner, const AxisTaps& taps, double* out) {
  resample_axis_impl(in, outer, inner, taps, out, Keep{});
}

void resample_axis(const double* in, std::int64_t outer, std::int64_t inner, const AxisTaps& taps, float* out,
                   double low, double high) {
  resample_axis_impl(in, outer, inner, taps, out, ClipToF32{low, high});
}

void resample_axis(const float* in, std::int64_t outer, std::int64_t inner, const AxisTaps& taps, float* out,
                   double low, double high) {
  resample_axis_impl(in, outer, inner, taps, out, ClipToF32{low, high});
}

}  // namespace nnuc::data::resampling
