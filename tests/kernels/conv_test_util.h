// Helpers shared by tests/kernels/conv_test.cpp and conv_transpose_test.cpp: the f64 references'
// zero tensors, inner products for the adjoint identities, the tolerance of a result against its
// direct-loop reference, and the allocator peaks of a pass on the CPU and on a Meta context.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/conv/conv.h"
#include "tests/support/test_support.h"

namespace nnuc::conv_test {

inline Tensor zeros_f64(const Shape& shape) {
  return Tensor::from_vector(shape, std::vector<double>(static_cast<std::size_t>(shape.numel()), 0.0));
}

// <a, b> in f64.
inline double dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  double sum = 0;
  for (std::size_t e = 0; e < av.size(); ++e) sum += av[e] * bv[e];
  return sum;
}

// f64 results match the reference to rounding; f32 within a few ulp of a k^3 C-term reduction (both
// relative to the reference's largest magnitude, at least 1).
inline ::testing::AssertionResult matches(const Tensor& actual, const Tensor& expected) {
  double scale = 1;
  for (double v : expected.to_vector<double>()) scale = std::max(scale, std::fabs(v));
  if (actual.dtype() == DType::f64) return testing::all_close(actual, expected, 1e-12 * scale, 1e-12);
  return testing::all_close(actual, expected, 2e-5 * scale, 1e-5);
}

// One pass of a convolution op on (x, w, bias, dy) of a context; the pass reads the operands it needs.
struct PassRun {
  ConvPass pass;
  std::function<Tensor(const Context&, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& dy)> run;
};

// Random operands of the passes on the CPU, and empty ones of the same shapes on a Meta context.
struct CpuAndMetaOperands {
  CpuAndMetaOperands(const Context& meta, const Shape& x_shape, const Shape& w_shape, std::int64_t co,
                     const Shape& y_shape, DType dtype)
      : x(testing::random_uniform(x_shape, dtype)),
        w(testing::random_uniform(w_shape, dtype)),
        bias(testing::random_uniform(Shape{co}, dtype)),
        dy(testing::random_uniform(y_shape, dtype)),
        mx(Tensor::empty(x_shape, dtype, meta)),
        mw(Tensor::empty(w_shape, dtype, meta)),
        mbias(Tensor::empty(Shape{co}, dtype, meta)),
        mdy(Tensor::empty(y_shape, dtype, meta)) {}
  Tensor x, w, bias, dy;      // CPU
  Tensor mx, mw, mbias, mdy;  // Meta
};

// The allocator peaks and output sizes of one pass on the CPU and on `meta`.
struct CpuAndMetaPeaks {
  testing::PeakAndOutput cpu, meta;
};
inline CpuAndMetaPeaks cpu_and_meta_peaks(const PassRun& op, const Context& meta, const CpuAndMetaOperands& o) {
  CpuAndMetaPeaks peaks;
  peaks.cpu = testing::peak_and_output_of(Device::CPU, [&] { return op.run(Context::cpu(), o.x, o.w, o.bias, o.dy); });
  peaks.meta = testing::peak_and_output_of(meta.device(), [&] { return op.run(meta, o.mx, o.mw, o.mbias, o.mdy); });
  return peaks;
}

}  // namespace nnuc::conv_test
