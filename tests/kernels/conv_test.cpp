// Convolution on the CPU: every pass against a direct-loop double-precision reference, adjoint
// identities in f64, Meta accounting equal to the CPU's byte for byte, argument checks.
#include "kernels/conv/conv.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/conv/conv_cpu_gather.h"
#include "kernels/conv/conv_gemm.h"
#include "kernels/core/allocator.h"
#include "tests/kernels/conv_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

using conv_test::dot;
using conv_test::matches;
using conv_test::zeros_f64;
using testing::expect_invalid;

// ---- Direct-loop references (f64 host tensors) ------------------------------------------------

struct Index5 {
  std::int64_t dims[5];
  std::int64_t operator()(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d, std::int64_t e) const {
    return (((a * dims[1] + b) * dims[2] + c) * dims[3] + d) * dims[4] + e;
  }
};
Index5 indexer(const Shape& shape) { return Index5{{shape[0], shape[1], shape[2], shape[3], shape[4]}}; }

// Calls visit(n, o[3], k[3], i[3]) for every output voxel o and kernel tap k whose input i is inside x.
void for_each_tap(
    const Shape& x, const Shape& y, const ConvGeometry& g,
    const std::function<void(std::int64_t, const std::int64_t*, const std::int64_t*, const std::int64_t*)>& visit) {
  std::int64_t o[3], k[3], i[3];
  for (std::int64_t n = 0; n < y[0]; ++n)
    for (o[0] = 0; o[0] < y[1]; ++o[0])
      for (o[1] = 0; o[1] < y[2]; ++o[1])
        for (o[2] = 0; o[2] < y[3]; ++o[2])
          for (k[0] = 0; k[0] < g.kernel[0]; ++k[0])
            for (k[1] = 0; k[1] < g.kernel[1]; ++k[1])
              for (k[2] = 0; k[2] < g.kernel[2]; ++k[2]) {
                bool inside = true;
                for (int a = 0; a < 3; ++a) {
                  i[a] = o[a] * g.stride[static_cast<std::size_t>(a)] - g.padding[static_cast<std::size_t>(a)] + k[a];
                  inside = inside && i[a] >= 0 && i[a] < x[1 + a];
                }
                if (inside) visit(n, o, k, i);
              }
}

Tensor reference_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g) {
  const Shape y_shape = conv_output_shape(x.shape(), w.shape(), g);
  const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  Tensor y = zeros_f64(y_shape);
  double* yv = y.data<double>();
  const Index5 xi = indexer(x.shape()), wi = indexer(w.shape()), yi = indexer(y_shape);
  const std::int64_t ci = x.dim(4), co = w.dim(0);
  for_each_tap(x.shape(), y_shape, g,
               [&](std::int64_t n, const std::int64_t* o, const std::int64_t* k, const std::int64_t* i) {
                 for (std::int64_t c_out = 0; c_out < co; ++c_out) {
                   double sum = 0;
                   for (std::int64_t c_in = 0; c_in < ci; ++c_in)
                     sum += xv[static_cast<std::size_t>(xi(n, i[0], i[1], i[2], c_in))] *
                            wv[static_cast<std::size_t>(wi(c_out, k[0], k[1], k[2], c_in))];
                   yv[yi(n, o[0], o[1], o[2], c_out)] += sum;
                 }
               });
  if (bias.defined()) {
    const std::vector<double> bv = bias.to_vector<double>();
    for (std::int64_t e = 0; e < y.numel(); ++e) yv[e] += bv[static_cast<std::size_t>(e % co)];
  }
  return y;
}

Tensor reference_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& g, const Shape& x_shape) {
  const std::vector<double> dyv = dy.to_vector<double>(), wv = w.to_vector<double>();
  Tensor dx = zeros_f64(x_shape);
  double* dxv = dx.data<double>();
  const Index5 xi = indexer(x_shape), wi = indexer(w.shape()), yi = indexer(dy.shape());
  const std::int64_t ci = x_shape[4], co = w.dim(0);
  for_each_tap(x_shape, dy.shape(), g,
               [&](std::int64_t n, const std::int64_t* o, const std::int64_t* k, const std::int64_t* i) {
                 for (std::int64_t c_in = 0; c_in < ci; ++c_in) {
                   double sum = 0;
                   for (std::int64_t c_out = 0; c_out < co; ++c_out)
                     sum += dyv[static_cast<std::size_t>(yi(n, o[0], o[1], o[2], c_out))] *
                            wv[static_cast<std::size_t>(wi(c_out, k[0], k[1], k[2], c_in))];
                   dxv[xi(n, i[0], i[1], i[2], c_in)] += sum;
                 }
               });
  return dx;
}

Tensor reference_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& g, const Shape& w_shape) {
  const std::vector<double> xv = x.to_vector<double>(), dyv = dy.to_vector<double>();
  Tensor dw = zeros_f64(w_shape);
  double* dwv = dw.data<double>();
  const Index5 xi = indexer(x.shape()), wi = indexer(w_shape), yi = indexer(dy.shape());
  const std::int64_t ci = x.dim(4), co = w_shape[0];
  for_each_tap(x.shape(), dy.shape(), g,
               [&](std::int64_t n, const std::int64_t* o, const std::int64_t* k, const std::int64_t* i) {
                 for (std::int64_t c_out = 0; c_out < co; ++c_out) {
                   const double d = dyv[static_cast<std::size_t>(yi(n, o[0], o[1], o[2], c_out))];
                   for (std::int64_t c_in = 0; c_in < ci; ++c_in)
                     dwv[wi(c_out, k[0], k[1], k[2], c_in)] +=
                         d * xv[static_cast<std::size_t>(xi(n, i[0], i[1], i[2], c_in))];
                 }
               });
  return dw;
}

Tensor reference_backward_bias(const Tensor& dy) {
  const std::vector<double> dyv = dy.to_vector<double>();
  const std::int64_t co = dy.dim(4);
  std::vector<double> db(static_cast<std::size_t>(co), 0.0);
  for (std::size_t e = 0; e < dyv.size(); ++e) db[e % static_cast<std::size_t>(co)] += dyv[e];
  return Tensor::from_vector(Shape{co}, db);
}

// ---- Cases ----------------------------------------------------------------------------------

struct Case {
  const char* name;
  Shape x;  // (N, D, H, W, Ci)
  int co;
  ConvGeometry geometry;
};
// Test names in CTest's list and in failures: the case's name, not its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

ConvGeometry geometry(std::array<int, 3> k, std::array<int, 3> s, std::array<int, 3> p) {
  return ConvGeometry{k, s, p};
}

std::vector<Case> cases() {
  return {
      {"3x3x3_s1_odd_batch2", Shape{2, 5, 6, 7, 3}, 4, geometry({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
      {"3x3x3_s2_odd", Shape{1, 7, 9, 5, 4}, 6, geometry({3, 3, 3}, {2, 2, 2}, {1, 1, 1})},
      {"3x3x3_s2_even_batch2", Shape{2, 6, 8, 4, 3}, 5, geometry({3, 3, 3}, {2, 2, 2}, {1, 1, 1})},
      {"1x3x3_anisotropic", Shape{2, 3, 8, 7, 5}, 3, geometry({1, 3, 3}, {1, 1, 1}, {0, 1, 1})},
      {"1x3x3_stride_1x2x2", Shape{1, 4, 9, 10, 3}, 4, geometry({1, 3, 3}, {1, 2, 2}, {0, 1, 1})},
      {"2d_3x3_D1", Shape{3, 1, 11, 9, 6}, 5, geometry({1, 3, 3}, {1, 1, 1}, {0, 1, 1})},
      {"2d_3x3_s2_D1", Shape{2, 1, 9, 12, 4}, 3, geometry({1, 3, 3}, {1, 2, 2}, {0, 1, 1})},
      {"1x1x1_pointwise", Shape{2, 3, 4, 5, 7}, 2, geometry({1, 1, 1}, {1, 1, 1}, {0, 0, 0})},
      {"3x1x3_stride_2x1x2", Shape{1, 7, 4, 6, 2}, 3, geometry({3, 1, 3}, {2, 1, 2}, {1, 0, 1})},
      {"3x3x3_no_padding", Shape{1, 5, 5, 6, 2}, 3, geometry({3, 3, 3}, {1, 1, 1}, {0, 0, 0})},
      {"2x2x2_stride3_gaps", Shape{1, 8, 7, 9, 2}, 3, geometry({2, 2, 2}, {3, 3, 3}, {0, 0, 0})},
      {"5x3x1_pad2_over", Shape{2, 4, 5, 3, 3}, 2, geometry({5, 3, 1}, {1, 2, 1}, {2, 2, 1})},
      {"many_tiles_3x3x3", Shape{2, 12, 20, 40, 2}, 3, geometry({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
      {"many_tiles_s2", Shape{2, 24, 40, 40, 2}, 3, geometry({3, 3, 3}, {2, 2, 2}, {1, 1, 1})},
      // Channel counts around the f32 GEMM's panels (conv_gemm.h): 8 (one whole narrow panel), 9-15
      // (an edge panel), 16 + 4 (a full panel, then a narrow one), in both Co and Ci.
      {"channels_8_to_12", Shape{1, 5, 6, 7, 8}, 12, geometry({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
      {"channels_17_to_20_s2", Shape{2, 6, 5, 7, 17}, 20, geometry({3, 3, 3}, {2, 2, 2}, {1, 1, 1})},
      {"channels_9_to_8", Shape{1, 4, 9, 8, 9}, 8, geometry({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
      // Unit stride, same padding, lines of >= 8 voxels: on AVX-512 CPUs forward and backward data read
      // the input in place (direct_same_conv); the border rows of each line go through im2col. Output
      // channels around the paired panels (16, 20, 32, 40, 64), a single line or plane, a 5^3 kernel
      // (two border voxels per side), a kernel of 1 along W (no border rows), 2-d.
      {"direct_co32_small_planes", Shape{1, 3, 4, 12, 5}, 32, geometry({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
      {"direct_co40_batch2", Shape{2, 4, 5, 17, 8}, 40, geometry({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
      {"direct_co64_one_line", Shape{1, 2, 1, 9, 3}, 64, geometry({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
      {"direct_2d_co20", Shape{2, 1, 7, 30, 4}, 20, geometry({1, 3, 3}, {1, 1, 1}, {0, 1, 1})},
      {"direct_1x3x3_co16", Shape{1, 3, 5, 10, 16}, 16, geometry({1, 3, 3}, {1, 1, 1}, {0, 1, 1})},
      {"direct_5x5x5", Shape{1, 6, 7, 11, 2}, 12, geometry({5, 5, 5}, {1, 1, 1}, {2, 2, 2})},
      {"direct_3x3x1_no_border_rows", Shape{1, 4, 5, 9, 3}, 6, geometry({3, 3, 1}, {1, 1, 1}, {1, 1, 0})},
  };
}

// Which passes read their input in place (direct_same_conv) on AVX-512 CPUs: nnU-Net's unit-stride
// 3 x 3 x 3 and 1 x 3 x 3 convolutions of up to 64 output channels on lines of >= 8 voxels; not the
// strided ones, not wider outputs (the im2col copy is then cheap beside the GEMM), not short lines.
TEST(Conv, UnitStrideSamePaddingConvolutionsReadTheirInputInPlace) {
  if (!cpu::gemm_uses_avx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  const auto applies = [](const Shape& x, std::int64_t co, const ConvGeometry& g) {
    const Shape w{co, g.kernel[0], g.kernel[1], g.kernel[2], x[4]};
    const conv_detail::CpuConvPlan plan = conv_detail::cpu_conv_plan(ConvPass::forward, x, w, g, DType::f32, 2);
    return cpu::direct_conv_applies(x, co, g, plan);
  };
  const ConvGeometry k3 = geometry({3, 3, 3}, {1, 1, 1}, {1, 1, 1});
  EXPECT_TRUE(applies(Shape{2, 40, 32, 32, 32}, 32, k3));
  EXPECT_TRUE(applies(Shape{1, 64, 64, 64, 1}, 32, k3));
  EXPECT_TRUE(applies(Shape{1, 1, 64, 64, 32}, 64, geometry({1, 3, 3}, {1, 1, 1}, {0, 1, 1})));
  EXPECT_FALSE(applies(Shape{2, 40, 32, 32, 32}, 64, geometry({3, 3, 3}, {2, 2, 2}, {1, 1, 1})));
  EXPECT_FALSE(applies(Shape{2, 10, 8, 8, 64}, 128, k3));
  EXPECT_FALSE(applies(Shape{2, 10, 8, 4, 32}, 32, k3));
  EXPECT_FALSE(applies(Shape{2, 10, 8, 16, 32}, 32, geometry({3, 3, 3}, {1, 1, 1}, {0, 0, 0})));
  EXPECT_FALSE(applies(Shape{2, 10, 8, 16, 32}, 32, geometry({1, 1, 1}, {1, 1, 1}, {0, 0, 0})));
}

class ConvCase : public ::testing::TestWithParam<Case> {};

Tensor weight_for(const Case& c, DType dtype) {
  const ConvGeometry& g = c.geometry;
  return testing::random_uniform(Shape{c.co, g.kernel[0], g.kernel[1], g.kernel[2], c.x[4]}, dtype);
}

TEST_P(ConvCase, ForwardMatchesReference) {
  const Case& c = GetParam();
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = testing::random_uniform(c.x, dtype);
    const Tensor w = weight_for(c, dtype);
    const Tensor bias = testing::random_uniform(Shape{c.co}, dtype);
    const Tensor y = conv_forward(Context::cpu(), x, w, bias, c.geometry);
    EXPECT_EQ(y.shape(), conv_output_shape(c.x, w.shape(), c.geometry));
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_TRUE(matches(y, reference_forward(x, w, bias, c.geometry)));
    const Tensor y_no_bias = conv_forward(Context::cpu(), x, w, Tensor(), c.geometry);
    EXPECT_TRUE(matches(y_no_bias, reference_forward(x, w, Tensor(), c.geometry)));
  }
}

TEST_P(ConvCase, BackwardDataMatchesReference) {
  const Case& c = GetParam();
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor w = weight_for(c, dtype);
    const Tensor dy = testing::random_uniform(conv_output_shape(c.x, w.shape(), c.geometry), dtype);
    const Tensor dx = conv_backward_data(Context::cpu(), dy, w, c.geometry, c.x);
    EXPECT_EQ(dx.shape(), c.x);
    EXPECT_TRUE(matches(dx, reference_backward_data(dy, w, c.geometry, c.x)));
  }
}

TEST_P(ConvCase, BackwardWeightMatchesReference) {
  const Case& c = GetParam();
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const Tensor x = testing::random_uniform(c.x, dtype);
    const Shape w_shape{c.co, c.geometry.kernel[0], c.geometry.kernel[1], c.geometry.kernel[2], c.x[4]};
    const Tensor dy = testing::random_uniform(conv_output_shape(c.x, w_shape, c.geometry), dtype);
    const Tensor dw = conv_backward_weight(Context::cpu(), x, dy, c.geometry, w_shape);
    EXPECT_EQ(dw.shape(), w_shape);
    EXPECT_TRUE(matches(dw, reference_backward_weight(x, dy, c.geometry, w_shape)));
  }
}

TEST_P(ConvCase, BackwardBiasMatchesReference) {
  const Case& c = GetParam();
  for (DType dtype : {DType::f32, DType::f64}) {
    const Shape w_shape{c.co, c.geometry.kernel[0], c.geometry.kernel[1], c.geometry.kernel[2], c.x[4]};
    const Tensor dy = testing::random_uniform(conv_output_shape(c.x, w_shape, c.geometry), dtype);
    const Tensor db = conv_backward_bias(Context::cpu(), dy);
    EXPECT_EQ(db.shape(), Shape{c.co});
    EXPECT_EQ(db.dtype(), dtype);
    EXPECT_TRUE(matches(db, reference_backward_bias(dy)));
  }
}

// <conv(x, w), dy> = <x, conv_backward_data(dy, w)> = <w, conv_backward_weight(x, dy)>, and the bias
// term <bias broadcast, dy> = <bias, conv_backward_bias(dy)>: the backward passes are the adjoints.
TEST_P(ConvCase, AdjointIdentitiesInF64) {
  const Case& c = GetParam();
  const Tensor x = testing::random_uniform(c.x, DType::f64);
  const Tensor w = weight_for(c, DType::f64);
  const Tensor bias = testing::random_uniform(Shape{c.co}, DType::f64);
  const Tensor y = conv_forward(Context::cpu(), x, w, Tensor(), c.geometry);
  const Tensor y_bias = conv_forward(Context::cpu(), x, w, bias, c.geometry);
  const Tensor dy = testing::random_uniform(y.shape(), DType::f64);
  const double forward = dot(y, dy);
  const double tolerance = 1e-11 * std::max(1.0, std::sqrt(static_cast<double>(y.numel()) * w.dim(4) * 27.0));
  EXPECT_NEAR(dot(x, conv_backward_data(Context::cpu(), dy, w, c.geometry, c.x)), forward, tolerance);
  EXPECT_NEAR(dot(w, conv_backward_weight(Context::cpu(), x, dy, c.geometry, w.shape())), forward, tolerance);
  EXPECT_NEAR(dot(y_bias, dy) - forward, dot(bias, conv_backward_bias(Context::cpu(), dy)), tolerance);
}

// The same op on CPU and on a Meta context modelling the CPU raises the allocator peak by the same
// bytes: the output plus conv_workspace_bytes (the scratch that grows with the data).
TEST_P(ConvCase, MetaAccountsExactlyAsCpu) {
  const Case& c = GetParam();
  auto meta = Context::meta(Device::CPU);
  const Shape w_shape{c.co, c.geometry.kernel[0], c.geometry.kernel[1], c.geometry.kernel[2], c.x[4]};
  const Shape y_shape = conv_output_shape(c.x, w_shape, c.geometry);
  for (DType dtype : {DType::f32, DType::f64}) {
    SCOPED_TRACE(dtype_name(dtype));
    const conv_test::CpuAndMetaOperands operands(*meta, c.x, w_shape, c.co, y_shape, dtype);
    const std::vector<conv_test::PassRun> ops = {
        {ConvPass::forward, [&](const Context& ctx, const Tensor& xx, const Tensor& ww, const Tensor& bb,
                                const Tensor&) { return conv_forward(ctx, xx, ww, bb, c.geometry); }},
        {ConvPass::backward_data, [&](const Context& ctx, const Tensor&, const Tensor& ww, const Tensor&,
                                      const Tensor& gg) { return conv_backward_data(ctx, gg, ww, c.geometry, c.x); }},
        {ConvPass::backward_weight,
         [&](const Context& ctx, const Tensor& xx, const Tensor&, const Tensor&, const Tensor& gg) {
           return conv_backward_weight(ctx, xx, gg, c.geometry, w_shape);
         }},
        {ConvPass::backward_bias, [&](const Context& ctx, const Tensor&, const Tensor&, const Tensor&,
                                      const Tensor& gg) { return conv_backward_bias(ctx, gg); }},
    };
    for (const conv_test::PassRun& op : ops) {
      SCOPED_TRACE(conv_pass_name(op.pass));
      const conv_test::CpuAndMetaPeaks peaks = conv_test::cpu_and_meta_peaks(op, *meta, operands);
      EXPECT_EQ(peaks.cpu.peak, peaks.meta.peak);
      EXPECT_EQ(peaks.cpu.peak,
                peaks.cpu.output + conv_workspace_bytes(op.pass, c.x, w_shape, c.geometry, dtype, Context::cpu()));
      EXPECT_EQ(conv_workspace_bytes(op.pass, c.x, w_shape, c.geometry, dtype, Context::cpu()),
                conv_workspace_bytes(op.pass, c.x, w_shape, c.geometry, dtype, *meta));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Conv, ConvCase, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return std::string(param_info.param.name);
                         });

// ---- Shape rule and argument checks ----------------------------------------------------------

TEST(Conv, OutputShapeRule) {
  // floor((in + 2p - k) / s) + 1 per axis; nnU-Net's same padding gives ceil(in / s).
  EXPECT_EQ(conv_output_shape(Shape{2, 7, 9, 5, 3}, Shape{8, 3, 3, 3, 3}, same_padding_geometry({3, 3, 3}, {2, 2, 2})),
            (Shape{2, 4, 5, 3, 8}));
  EXPECT_EQ(
      conv_output_shape(Shape{1, 1, 10, 11, 2}, Shape{4, 1, 3, 3, 2}, same_padding_geometry({1, 3, 3}, {1, 2, 2})),
      (Shape{1, 1, 5, 6, 4}));
  EXPECT_EQ(conv_output_shape(Shape{1, 8, 7, 9, 2}, Shape{3, 2, 2, 2, 2}, geometry({2, 2, 2}, {3, 3, 3}, {0, 0, 0})),
            (Shape{1, 3, 2, 3, 3}));
  const ConvGeometry same = same_padding_geometry({1, 3, 3}, {1, 1, 1});
  EXPECT_EQ(same.padding, (std::array<int, 3>{0, 1, 1}));
}

TEST(Conv, RejectsBadArguments) {
  const Context& cpu = Context::cpu();
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  const Tensor x = testing::random_uniform(Shape{1, 4, 4, 4, 3}, DType::f32);
  const Tensor w = testing::random_uniform(Shape{2, 3, 3, 3, 3}, DType::f32);
  const Tensor dy = testing::random_uniform(Shape{1, 4, 4, 4, 2}, DType::f32);
  expect_invalid(
      [&] {
        conv_forward(cpu, x, testing::random_uniform(Shape{2, 3, 3, 3, 4}, DType::f32), Tensor(), g);
      },
      "w (2, 3, 3, 3, 4) has Ci = 4");
  expect_invalid([&] { conv_forward(cpu, x.reshape(Shape{4, 4, 4, 3}), w, Tensor(), g); }, "x must be rank 5");
  expect_invalid([&] { conv_forward(cpu, x, w, testing::random_uniform(Shape{3}, DType::f32), g); },
                 "bias must have shape (2)");
  expect_invalid([&] { conv_forward(cpu, x, w, testing::random_uniform(Shape{2}, DType::f64), g); },
                 "bias must be f32");
  expect_invalid([&] { conv_forward(cpu, x, testing::as_f64(w), Tensor(), g); }, "w is f64");
  expect_invalid(
      [&] {
        conv_forward(cpu, x, w, Tensor(), same_padding_geometry({1, 3, 3}, {1, 1, 1}));
      },
      "geometry.kernel");
  expect_invalid(
      [&] {
        conv_forward(cpu, x, w, Tensor(), ConvGeometry{{3, 3, 3}, {1, 0, 1}, {1, 1, 1}});
      },
      "geometry.stride");
  expect_invalid(
      [&] {
        conv_forward(cpu, x, w, Tensor(), ConvGeometry{{3, 3, 3}, {1, 1, 1}, {1, -1, 1}});
      },
      "geometry.padding");
  expect_invalid(
      [&] {
        conv_forward(cpu, testing::random_uniform(Shape{1, 2, 4, 4, 3}, DType::f32), w, Tensor(),
                     ConvGeometry{{3, 3, 3}, {1, 1, 1}, {0, 0, 0}});
      },
      "smaller than the kernel");
  expect_invalid([&] { conv_forward(cpu, Tensor(), w, Tensor(), g); }, "x is an undefined tensor");
  expect_invalid(
      [&] {
        conv_backward_data(cpu, dy, w, g, Shape{1, 5, 4, 4, 3});
      },
      "dy must have shape (1, 5, 4, 4, 2)");
  expect_invalid([&] { conv_backward_weight(cpu, x, dy, g, Shape{3, 3, 3, 3, 3}); }, "dy must have shape");
  expect_invalid([&] { conv_backward_weight(cpu, x, testing::as_f64(dy), g, w.shape()); }, "dy is f64");
  expect_invalid([&] { conv_backward_bias(cpu, dy.reshape(Shape{64, 2})); }, "dy must be rank 5");
  const Tensor labels = testing::random_labels(Shape{1, 4, 4, 4, 3}, DType::i16, 3);
  expect_invalid([&] { conv_forward(cpu, labels, w, Tensor(), g); }, "x is i16");
  auto meta = Context::meta(Device::CPU);
  expect_invalid([&] { conv_forward(*meta, x, w, Tensor(), g); }, "x is on CPU but the op runs on Meta");
  auto meta_cuda = Context::meta(Device::CUDA);
  expect_invalid(
      [&] {
        conv_forward(*meta_cuda, Tensor::empty(x.shape(), DType::f64, *meta_cuda),
                     Tensor::empty(w.shape(), DType::f64, *meta_cuda), Tensor(), g);
      },
      "CUDA convolutions take f32 or bf16");
  expect_invalid([&] { conv_workspace_bytes(ConvPass::forward, x.shape(), w.shape(), g, DType::bf16, cpu); },
                 "dtype bf16 is not supported on CPU");
}

// A Meta context modelling CUDA reports the cap until a plan is cached, then the plan's workspace;
// its op allocates the output plus that workspace.
TEST(Conv, MetaCudaWorkspaceFollowsPlanCache) {
  auto meta = Context::meta(Device::CUDA);
  meta->set_workspace_cap(std::size_t{3} << 20);
  const Shape x{2, 8, 8, 8, 16}, w{32, 3, 3, 3, 16};
  const ConvGeometry g = same_padding_geometry({3, 3, 3}, {1, 1, 1});
  EXPECT_EQ(conv_workspace_bytes(ConvPass::forward, x, w, g, DType::bf16, *meta), std::size_t{3} << 20);
  const Tensor mx = Tensor::empty(x, DType::bf16, *meta), mw = Tensor::empty(w, DType::bf16, *meta);
  const testing::PeakAndOutput forward =
      testing::peak_and_output_of(Device::Meta, [&] { return conv_forward(*meta, mx, mw, Tensor(), g); });
  EXPECT_EQ(forward.peak, forward.output + (std::size_t{3} << 20));
  EXPECT_EQ(conv_workspace_bytes(ConvPass::backward_bias, x, w, g, DType::bf16, *meta),
            rounded_allocation_bytes(4 * 32 * static_cast<std::size_t>((2 * 512 + 255) / 256)));
}

}  // namespace
}  // namespace nnuc
