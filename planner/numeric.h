// Python / numpy arithmetic that nnU-Net's planner relies on, reproduced bit for bit.
//
// The plans must match nnU-Net's to the voxel, so every rounding, percentile and median here follows
// the exact floating-point recipe of the Python call it replaces (numpy 2.x, CPython 3):
//   round(x), np.round      -> round_half_even
//   np.prod(v)              -> product (left to right)
//   np.argmax(v)            -> argmax_first
//   np.argsort(v)[-1]       -> argmax_last (ties: the last index, as numpy without AVX-512 sorts
//                              2-3 elements; see planner/README.md)
// np.percentile and np.median of float64 values are data::numpy_percentile_f64 and
// data::numpy_median_f64 (data/preprocess/numpy_stats.h), the same functions the fingerprint uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace nnuc::planner {

// Round half to even, as Python's round() and numpy's round do: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0.
double round_half_even(double x);
// int(round(x)) in Python.
//   requires: |x| < 2^62.
std::int64_t round_half_even_to_int(double x);

// np.prod(values) for float64: ((v0 * v1) * v2) * ...; 1 for an empty vector.
double product(const std::vector<double>& values);

// Index of the first largest value (np.argmax). requires: values non-empty.
std::size_t argmax_first(const std::vector<double>& values);
// Index of the last largest value (np.argsort(values)[-1] for the short vectors the planner sorts).
std::size_t argmax_last(const std::vector<double>& values);

}  // namespace nnuc::planner
