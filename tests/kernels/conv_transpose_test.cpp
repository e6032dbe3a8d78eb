// Transposed convolution (kernel == stride) on the CPU: each pass against a direct-loop f64
// reference of its own formula, adjoint identities, Meta accounting, argument checks.
#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/conv/conv.h"
#include "tests/kernels/conv_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

using conv_test::dot;
using conv_test::matches;
using conv_test::zeros_f64;
using testing::expect_invalid;

// Calls visit(x_index, w_index, y_index) for every product x[n, i, ci] * w[ci, a, co] that
// contributes to y[n, i * s + a, co].
void for_each_product(const Shape& x, const Shape& w, const std::array<int, 3>& s,
                      const std::function<void(std::int64_t, std::int64_t, std::int64_t)>& visit) {
  const std::int64_t ci_count = x[4], co_count = w[4];
  const std::int64_t Y1 = x[1] * s[0], Y2 = x[2] * s[1], Y3 = x[3] * s[2];
  for (std::int64_t n = 0; n < x[0]; ++n)
    for (std::int64_t i0 = 0; i0 < x[1]; ++i0)
      for (std::int64_t i1 = 0; i1 < x[2]; ++i1)
        for (std::int64_t i2 = 0; i2 < x[3]; ++i2)
          for (std::int64_t a0 = 0; a0 < s[0]; ++a0)
            for (std::int64_t a1 = 0; a1 < s[1]; ++a1)
              for (std::int64_t a2 = 0; a2 < s[2]; ++a2)
                for (std::int64_t ci = 0; ci < ci_count; ++ci)
                  for (std::int64_t co = 0; co < co_count; ++co) {
                    const std::int64_t xi = (((n * x[1] + i0) * x[2] + i1) * x[3] + i2) * ci_count + ci;
                    const std::int64_t wi = (((ci * s[0] + a0) * s[1] + a1) * s[2] + a2) * co_count + co;
                    const std::int64_t yi =
                        (((n * Y1 + i0 * s[0] + a0) * Y2 + i1 * s[1] + a1) * Y3 + i2 * s[2] + a2) * co_count + co;
                    visit(xi, wi, yi);
                  }
}

Tensor reference_forward(const Tensor& x, const Tensor& w, const Tensor& bias, std::array<int, 3> s) {
  const Shape y_shape{x.dim(0), x.dim(1) * s[0], x.dim(2) * s[1], x.dim(3) * s[2], w.dim(4)};
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  Tensor y = zeros_f64(y_shape);
  double* yv = y.data<double>();
  for_each_product(x.shape(), w.shape(), s, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) {
    yv[yi] += xv[static_cast<std::size_t>(xi)] * wv[static_cast<std::size_t>(wi)];
  });
  if (bias.defined()) {
    const std::vector<double> bv = bias.to_vector<double>();
    for (std::int64_t e = 0; e < y.numel(); ++e) yv[e] += bv[static_cast<std::size_t>(e % w.dim(4))];
  }
  return y;
}

Tensor reference_backward_data(const Tensor& dy, const Tensor& w, std::array<int, 3> s) {
  const Shape x_shape{dy.dim(0), dy.dim(1) / s[0], dy.dim(2) / s[1], dy.dim(3) / s[2], w.dim(0)};
  const std::vector<double> dyv = dy.to_vector<double>(), wv = w.to_vector<double>();
  Tensor dx = zeros_f64(x_shape);
  double* dxv = dx.data<double>();
  for_each_product(x_shape, w.shape(), s, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) {
    dxv[xi] += dyv[static_cast<std::size_t>(yi)] * wv[static_cast<std::size_t>(wi)];
  });
  return dx;
}

Tensor reference_backward_weight(const Tensor& x, const Tensor& dy, std::array<int, 3> s) {
  const Shape w_shape{x.dim(4), s[0], s[1], s[2], dy.dim(4)};
  const std::vector<double> xv = x.to_vector<double>(), dyv = dy.to_vector<double>();
  Tensor dw = zeros_f64(w_shape);
  double* dwv = dw.data<double>();
  for_each_product(x.shape(), w_shape, s, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) {
    dwv[wi] += xv[static_cast<std::size_t>(xi)] * dyv[static_cast<std::size_t>(yi)];
  });
  return dw;
}

struct Case {
  const char* name;
  Shape x;  // (N, D, H, W, Ci)
  int co;
  std::array<int, 3> stride;
};
// Test names in CTest's list and in failures: the case's name, not its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  return {
      {"2x2x2_batch2_odd", Shape{2, 3, 5, 4, 6}, 3, {2, 2, 2}},
      {"1x2x2_anisotropic", Shape{1, 3, 4, 5, 4}, 5, {1, 2, 2}},
      {"2d_D1", Shape{3, 1, 7, 6, 5}, 2, {1, 2, 2}},
      {"2x1x2_mixed", Shape{2, 2, 3, 3, 3}, 4, {2, 1, 2}},
      {"1x1x1_identity_stride", Shape{1, 2, 3, 4, 5}, 3, {1, 1, 1}},
      {"3x2x2_stride3", Shape{1, 2, 3, 2, 2}, 3, {3, 2, 2}},
      {"many_tiles", Shape{2, 10, 20, 24, 4}, 3, {2, 2, 2}},
  };
}

class ConvTransposeCase : public ::testing::TestWithParam<Case> {};

Shape weight_shape(const Case& c) { return Shape{c.x[4], c.stride[0], c.stride[1], c.stride[2], c.co}; }

TEST_P(ConvTransposeCase, ForwardMatchesReference) {
  const Case& c = GetParam();
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = testing::random_uniform(c.x, dtype);
    const Tensor w = testing::random_uniform(weight_shape(c), dtype);
    const Tensor bias = testing::random_uniform(Shape{c.co}, dtype);
    const Tensor y = conv_transpose_forward(Context::cpu(), x, w, bias, c.stride);
    EXPECT_EQ(y.shape(), conv_transpose_output_shape(c.x, w.shape(), c.stride));
    EXPECT_TRUE(matches(y, reference_forward(x, w, bias, c.stride)));
    EXPECT_TRUE(matches(conv_transpose_forward(Context::cpu(), x, w, Tensor(), c.stride),
                        reference_forward(x, w, Tensor(), c.stride)));
  }
}

TEST_P(ConvTransposeCase, BackwardDataMatchesReference) {
  const Case& c = GetParam();
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor w = testing::random_uniform(weight_shape(c), dtype);
    const Tensor dy = testing::random_uniform(conv_transpose_output_shape(c.x, w.shape(), c.stride), dtype);
    const Tensor dx = conv_transpose_backward_data(Context::cpu(), dy, w, c.stride);
    EXPECT_EQ(dx.shape(), c.x);
    EXPECT_TRUE(matches(dx, reference_backward_data(dy, w, c.stride)));
  }
}

TEST_P(ConvTransposeCase, BackwardWeightMatchesReference) {
  const Case& c = GetParam();
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = testing::random_uniform(c.x, dtype);
    const Tensor dy = testing::random_uniform(conv_transpose_output_shape(c.x, weight_shape(c), c.stride), dtype);
    const Tensor dw = conv_transpose_backward_weight(Context::cpu(), x, dy, c.stride);
    EXPECT_EQ(dw.shape(), weight_shape(c));
    EXPECT_TRUE(matches(dw, reference_backward_weight(x, dy, c.stride)));
  }
}

TEST_P(ConvTransposeCase, AdjointIdentitiesInF64) {
  const Case& c = GetParam();
  const Tensor x = testing::random_uniform(c.x, DType::f64);
  const Tensor w = testing::random_uniform(weight_shape(c), DType::f64);
  const Tensor y = conv_transpose_forward(Context::cpu(), x, w, Tensor(), c.stride);
  const Tensor dy = testing::random_uniform(y.shape(), DType::f64);
  const double forward = dot(y, dy);
  const double tolerance = 1e-11 * std::max(1.0, std::sqrt(static_cast<double>(y.numel()) * c.x[4]));
  EXPECT_NEAR(dot(x, conv_transpose_backward_data(Context::cpu(), dy, w, c.stride)), forward, tolerance);
  EXPECT_NEAR(dot(w, conv_transpose_backward_weight(Context::cpu(), x, dy, c.stride)), forward, tolerance);
}

TEST_P(ConvTransposeCase, MetaAccountsExactlyAsCpu) {
  const Case& c = GetParam();
  auto meta = Context::meta(Device::CPU);
  const Shape w_shape = weight_shape(c);
  const Shape y_shape = conv_transpose_output_shape(c.x, w_shape, c.stride);
  const DType dtype = DType::f32;
  const conv_test::CpuAndMetaOperands operands(*meta, c.x, w_shape, c.co, y_shape, dtype);
  const std::vector<conv_test::PassRun> ops = {
      {ConvPass::forward, [&](const Context& ctx, const Tensor& xx, const Tensor& ww, const Tensor& bb,
                              const Tensor&) { return conv_transpose_forward(ctx, xx, ww, bb, c.stride); }},
      {ConvPass::backward_data, [&](const Context& ctx, const Tensor&, const Tensor& ww, const Tensor&,
                                    const Tensor& gg) { return conv_transpose_backward_data(ctx, gg, ww, c.stride); }},
      {ConvPass::backward_weight,
       [&](const Context& ctx, const Tensor& xx, const Tensor&, const Tensor&, const Tensor& gg) {
         return conv_transpose_backward_weight(ctx, xx, gg, c.stride);
       }},
      {ConvPass::backward_bias, [&](const Context& ctx, const Tensor&, const Tensor&, const Tensor&,
                                    const Tensor& gg) { return conv_backward_bias(ctx, gg); }},
  };
  for (const conv_test::PassRun& op : ops) {
    SCOPED_TRACE(conv_pass_name(op.pass));
    const conv_test::CpuAndMetaPeaks peaks = conv_test::cpu_and_meta_peaks(op, *meta, operands);
    EXPECT_EQ(peaks.cpu.peak, peaks.meta.peak);
    EXPECT_EQ(peaks.cpu.peak,
              peaks.meta.output + conv_transpose_workspace_bytes(op.pass, c.x, w_shape, c.stride, dtype, *meta));
  }
}

INSTANTIATE_TEST_SUITE_P(ConvTranspose, ConvTransposeCase, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(ConvTranspose, RejectsBadArguments) {
  const Context& cpu = Context::cpu();
  const Tensor x = testing::random_uniform(Shape{1, 2, 3, 4, 3}, DType::f32);
  const Tensor w = testing::random_uniform(Shape{3, 2, 2, 2, 5}, DType::f32);
  const Tensor dy = testing::random_uniform(Shape{1, 4, 6, 8, 5}, DType::f32);
  expect_invalid([&] { conv_transpose_forward(cpu, x, w, Tensor(), {2, 2, 1}); }, "kernel == stride (2, 2, 1)");
  expect_invalid(
      [&] {
        conv_transpose_forward(cpu, x, testing::random_uniform(Shape{4, 2, 2, 2, 5}, DType::f32), Tensor(), {2, 2, 2});
      },
      "has Ci = 4");
  expect_invalid(
      [&] {
        conv_transpose_forward(cpu, x, w, testing::random_uniform(Shape{3}, DType::f32), {2, 2, 2});
      },
      "bias must have shape (5)");
  expect_invalid([&] { conv_transpose_forward(cpu, x, w, Tensor(), {2, 0, 2}); }, "stride (2, 0, 2) must be >= 1");
  expect_invalid(
      [&] {
        conv_transpose_backward_data(cpu, testing::random_uniform(Shape{1, 4, 6, 7, 5}, DType::f32), w, {2, 2, 2});
      },
      "not a multiple of stride");
  expect_invalid([&] { conv_transpose_backward_data(cpu, dy, testing::as_f64(w), {2, 2, 2}); }, "w is f64");
  expect_invalid(
      [&] {
        conv_transpose_backward_weight(cpu, x, testing::random_uniform(Shape{1, 4, 6, 6, 5}, DType::f32), {2, 2, 2});
      },
      "dy must have shape (1, 4, 6, 8, 5)");
  EXPECT_EQ(conv_transpose_output_shape(x.shape(), w.shape(), {2, 2, 2}), (Shape{1, 4, 6, 8, 5}));
}

}  // namespace
}  // namespace nnuc
