// Internal building blocks of data/preprocess/resample.h: scipy.ndimage's per-axis taps and weights,
// its B-spline prefilter, and one-axis passes over (outer, n, inner) arrays. Exposed for tests.
#pragma once

#include <cstdint>
#include <vector>

namespace nnuc::data::resampling {

// scipy's edge prepadding before the order >= 2 spline prefilter in mode 'nearest'.
constexpr std::int64_t kSplinePad = 12;

// Taps and weights of one axis: output index o reads input (padded) positions index[o * taps + h]
// with weights weight[o * taps + h], h = 0 .. order.
struct AxisTaps {
  int order = 0;
  int taps = 1;                     // order + 1
  std::int64_t pad = 0;             // kSplinePad for order 3, 0 otherwise
  std::int64_t length = 0;          // input line length before padding
  std::vector<std::int64_t> index;  // into the padded line [0, length + 2 pad)
  std::vector<double> weight;       // empty for order 0
};

// scipy's get_spline_interpolation_weights(x, order) for order 1 and 3.
void spline_weights(double x, int order, double* weights);

// Taps for zoom(grid_mode=True) / map_coordinates at cc = ((o + 0.5) * (length / out) - 0.5) + pad,
// mode 'nearest' (taps clamped to the padded line, weights from the unclamped cc).
AxisTaps zoom_taps(std::int64_t length, std::int64_t out, int order);

// scipy's order-3 spline prefilter of one line in mode 'nearest'/'mirror' (gain, causal and
// anticausal passes with mirror initial values), applied to `count` interleaved lines: element k of
// line j is at line[k * count + j].
void prefilter_order3(double* line, std::int64_t length, std::int64_t count);

// One axis of a separable resize: in is (outer, taps.length, inner), out is (outer, out_length, inner)
// with out_length = taps.index.size() / taps.taps. Edge padding and the prefilter are applied for
// order 3. Parallel (OpenMP) over outer x inner blocks.
void resample_axis(const double* in, std::int64_t outer, std::int64_t inner, const AxisTaps& taps, double* out);
// The same sums from f32 input (each element converted to double exactly as it is gathered).
void resample_axis(const float* in, std::int64_t outer, std::int64_t inner, const AxisTaps& taps, double* out);
// The same sums, each clipped to [low, high] and rounded to f32 as it is written: the last pass of a
// resize writes its f32 result without a double copy of it.
void resample_axis(const double* in, std::int64_t outer, std::int64_t inner, const AxisTaps& taps, float* out,
                   double low, double high);
void resample_axis(const float* in, std::int64_t outer, std::int64_t inner, const AxisTaps& taps, float* out,
                   double low, double high);

}  // namespace nnuc::data::resampling
