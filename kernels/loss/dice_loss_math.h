// kernels/loss internals: the arithmetic of kernels/loss/dice_loss.h, shared by the CPU and the CUDA
// implementation (one thread), so both evaluate the same expressions in the same order in f64.
#pragma once

#include <cstdint>

#include "kernels/core/philox.h"  // NNUC_HD

namespace nnuc::loss_detail {

constexpr double kDiceSmooth = 1e-5;

// std::max's rule (the first argument when the comparison fails, so NaN stays NaN), for device code.
NNUC_HD double max_of(double a, double b) { return a < b ? b : a; }

struct SoftDiceShape {
  std::int64_t samples, classes, first_class;
  bool batch_dice;
  NNUC_HD std::int64_t rows() const { return batch_dice ? 1 : samples; }
  NNUC_HD double terms() const { return static_cast<double>(rows() * (classes - first_class)); }
};

// The voxel term's denominator; counted may be null (then `constant`).
template <typename T>
NNUC_HD double voxel_denominator(const T* counted, double floor, double constant) {
  return counted != nullptr ? max_of(static_cast<double>(*counted), floor) : constant;
}

// Sums of (row, c) over the samples of the row.
struct RowSums {
  double inter, pred, tgt;
};
template <typename T>
NNUC_HD RowSums row_sums(const SoftDiceShape& s, const T* intersection, const T* prediction, const T* target,
                         std::int64_t row, std::int64_t c) {
  RowSums out{0, 0, 0};
  const std::int64_t first = s.batch_dice ? 0 : row, last = s.batch_dice ? s.samples : row + 1;
  for (std::int64_t n = first; n < last; ++n) {
    out.inter += static_cast<double>(intersection[n * s.classes + c]);
    out.pred += static_cast<double>(prediction[n * s.classes + c]);
    out.tgt += static_cast<double>(target[n * s.classes + c]);
  }
  return out;
}

// L = voxel_sum / d (0 when d ≤ 0) − mean dc.
template <typename T>
NNUC_HD double soft_dice_loss_value(const SoftDiceShape& s, const T* intersection, const T* prediction, const T* target,
                                    double voxel_sum, double denominator) {
  double total = 0;
  for (std::int64_t row = 0; row < s.rows(); ++row)
    for (std::int64_t c = s.first_class; c < s.classes; ++c) {
      const RowSums r = row_sums(s, intersection, prediction, target, row, c);
      total += (2 * r.inter + kDiceSmooth) / max_of(r.tgt + r.pred + kDiceSmooth, 1e-8);
    }
  const double dice = s.terms() > 0 ? -total / s.terms() : 0.0;
  const double voxel_term = denominator > 0 ? voxel_sum / denominator : 0.0;
  return voxel_term + dice;
}

// upstream · ∂L/∂I and upstream · ∂L/∂P for every (n, c) (0 for dropped classes), stored as T.
template <typename T>
NNUC_HD void soft_dice_loss_gradients(const SoftDiceShape& s, const T* intersection, const T* prediction,
                                      const T* target, double upstream, T* grad_i, T* grad_p) {
  for (std::int64_t index = 0; index < s.samples * s.classes; ++index) {
    grad_i[index] = T(0);
    grad_p[index] = T(0);
  }
  for (std::int64_t row = 0; row < s.rows(); ++row)
    for (std::int64_t c = s.first_class; c < s.classes; ++c) {
      const RowSums r = row_sums(s, intersection, prediction, target, row, c);
      const double raw_denominator = r.tgt + r.pred + kDiceSmooth;
      const double denominator = max_of(raw_denominator, 1e-8);
      const double d_inter = -upstream / s.terms() * 2 / denominator;
      const double d_pred = raw_denominator > 1e-8
                                ? upstream / s.terms() * (2 * r.inter + kDiceSmooth) / (denominator * denominator)
                                : 0.0;
      const std::int64_t first = s.batch_dice ? 0 : row, last = s.batch_dice ? s.samples : row + 1;
      for (std::int64_t n = first; n < last; ++n) {
        grad_i[n * s.classes + c] = static_cast<T>(d_inter);
        grad_p[n * s.classes + c] = static_cast<T>(d_pred);
      }
    }
}

}  // namespace nnuc::loss_detail
