// numpy's float32 reductions, reproduced to the bit: the statistics that nnU-Net computes with numpy
// on float32 arrays (fingerprint intensity statistics §2.3, ZScore normalization §4.2).
//
// We follow numpy >= 2.3 (what a current nnU-Net install runs). Formulas, for a float32 array x of
// n elements:
//   sum(x)        0 + pairwise(x): numpy's pairwise summation in float32 over the whole array (blocks
//                 of <= 128 are summed with 8 interleaved accumulators, larger ranges split in halves
//                 rounded down to a multiple of 8). numpy < 2.3 summed buffers of 8192 elements one
//                 after the other, which can differ in the last bits for n > 8192.
//   mean(x)       float32( double(sum(x)) / n )
//   std(x)        m = float32(double(sum(x)) / n); d_i = float32(x_i - m); s = sum(d_i * d_i) (float32,
//                 pairwise); std = sqrt_f32(float32(double(s) / n))          (population, ddof = 0)
//   median(x)     middle element, or float32(a + b) / 2 of the two middle ones (a <= b)
//   percentile    linear ("type 7"): v = (n - 1) * (q / 100) in double, i = floor(v), g = v - i,
//                 a = x_(i), b = x_(i+1) (clamped to n - 1), d = float32(b - a);
//                 g < 0.5: float32(a + float32(d * float32(g)))   else: float32(b - float32(d * float32(1 - g)))
//                 (numpy 2 keeps float32 for a Python-float q; numpy 1 returned the double lerp).
// tests/data/fixtures/numpy_stats_vectors.json (gen_numpy_fixtures.py) pins these against numpy.
#pragma once

#include <cstddef>
#include <vector>

namespace nnuc::data {

// numpy's float32 add.reduce: 0 + pairwise sum of values[0..count).
float numpy_sum_f32(const float* values, std::size_t count);
float numpy_mean_f32(const float* values, std::size_t count);
// Population standard deviation (ddof = 0) as numpy's _var/_std compute it for float32.
float numpy_std_f32(const float* values, std::size_t count);

// Order statistics of float32 values; they reorder `values` (partial sorts).
// requires: values non-empty, no NaN.
float numpy_median_f32(std::vector<float>& values);
// q in [0, 100].
float numpy_percentile_f32(std::vector<float>& values, double q);

// np.median of float64 values (mean of the two middle ones for an even count).
double numpy_median_f64(std::vector<double> values);
// np.percentile of float64 values, linear method (the double lerp numpy uses for float64 input).
double numpy_percentile_f64(std::vector<double> values, double q);

}  // namespace nnuc::data
