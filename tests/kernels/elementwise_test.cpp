// kernels/elementwise on the CPU: add, scale, axpy, fill, cast, sum, l2_norm, any_nonfinite,
// clip_coefficient, clip_by_total_norm against double / long-double references; determinism across
// thread counts; Meta-vs-CPU allocator peaks; argument errors.
#include "kernels/elementwise/elementwise.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "kernels/core/allocator.h"
#include "kernels/elementwise/reduce.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

const Context& cpu_ctx = Context::cpu();

// Shapes with odd extents, D = 1 and batch > 1.
const Shape kShapes[] = {Shape{3, 5, 7, 9, 2}, Shape{2, 1, 13, 11, 3}, Shape{1, 1, 1, 1, 1}, Shape{37}};

using testing::peak_bytes_of;

TEST(Elementwise, AddAndScaleMatchDoubleReference) {
  for (const Shape& shape : kShapes) {
    for (DType dtype : {DType::f32, DType::f64}) {
      const Tensor a = testing::random_uniform(shape, dtype), b = testing::random_uniform(shape, dtype);
      const std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
      std::vector<double> sum(av.size()), scaled(av.size());
      const double s = -0.3125 + 1e-9;  // rounded to f32 for f32 tensors, as the contract says
      const double s_used = dtype == DType::f32 ? static_cast<double>(static_cast<float>(s)) : s;
      for (std::size_t i = 0; i < av.size(); ++i) {
        sum[i] = av[i] + bv[i];
        scaled[i] = s_used * av[i];
      }
      // f32: one rounding of the exact result (half an ulp, 2^-24 relative); f64: the same operation.
      const double rtol = dtype == DType::f32 ? 6e-8 : 1e-16;
      EXPECT_TRUE(testing::all_close(add(cpu_ctx, a, b), Tensor::from_vector(shape, sum), 0, rtol));
      EXPECT_TRUE(testing::all_close(scale(cpu_ctx, a, s), Tensor::from_vector(shape, scaled), 0, rtol));
      EXPECT_EQ(add(cpu_ctx, a, b).dtype(), dtype);
    }
  }
}

TEST(Elementwise, AxpyMatchesReferenceIncludingBf16IntoF32AndAliasing) {
  const Shape shape{2, 3, 5, 7, 3};
  const double alpha = 0.75;
  for (DType x_dtype : {DType::f32, DType::f64, DType::bf16}) {
    const DType y_dtype = x_dtype == DType::f64 ? DType::f64 : DType::f32;
    Tensor y = testing::random_uniform(shape, y_dtype);
    const Tensor x_f32 = testing::random_uniform(shape, x_dtype == DType::f64 ? DType::f64 : DType::f32);
    const Tensor x = x_dtype == DType::bf16 ? cast(cpu_ctx, x_f32, DType::bf16) : x_f32;
    const std::vector<double> yv = y.to_vector<double>(), xv = x.to_vector<double>();  // bf16 widens exactly
    std::vector<double> expected(yv.size());
    for (std::size_t i = 0; i < yv.size(); ++i) expected[i] = yv[i] + alpha * xv[i];
    axpy(cpu_ctx, y, alpha, x);
    // f32: a rounded product and a rounded sum (|y|, |alpha x| <= 1).
    EXPECT_TRUE(testing::all_close(y, Tensor::from_vector(shape, expected), y_dtype == DType::f32 ? 1.2e-7 : 1e-16, 0))
        << dtype_name(x_dtype);
  }
  Tensor y = testing::random_uniform(Shape{101}, DType::f32);
  std::vector<double> expected = y.to_vector<double>();
  for (double& value : expected) value = value + 0.5 * value;  // exact in f32 up to one rounding
  axpy(cpu_ctx, y, 0.5, y);
  EXPECT_TRUE(testing::all_close(y, Tensor::from_vector(Shape{101}, expected), 0, 6e-8));
}

TEST(Elementwise, FillEveryDtype) {
  const Shape shape{3, 1, 5, 7, 2};
  struct Case {
    DType dtype;
    double value, stored;
  };
  for (const Case& c : {Case{DType::f32, 0.1, static_cast<float>(0.1)}, Case{DType::f64, 0.1, 0.1},
                        Case{DType::bf16, 1.0 / 3, bf16_to_float(float_to_bf16(1.0f / 3))},
                        Case{DType::f16, -2.5, -2.5}, Case{DType::i16, -7, -7}, Case{DType::i32, 123456, 123456},
                        Case{DType::i64, -5e12, -5e12}, Case{DType::u8, 255, 255}}) {
    Tensor t = Tensor::empty_cpu(shape, c.dtype);
    testing::poison(t);
    fill(cpu_ctx, t, c.value);
    for (double value : t.to_vector<double>()) ASSERT_EQ(value, c.stored) << dtype_name(c.dtype);
  }
  Tensor t = Tensor::empty_cpu(Shape{4}, DType::f32);
  fill(cpu_ctx, t, std::numeric_limits<double>::quiet_NaN());
  EXPECT_TRUE(std::isnan(t.to_vector<float>()[3]));
}

TEST(Elementwise, CastRoundsToNearestEvenAndKeepsSpecials) {
  const Shape shape{3, 5, 7, 9, 2};
  Tensor x = testing::random_uniform(shape, DType::f32, -70000, 70000);
  float* values = x.data<float>();
  values[1] = NAN, values[2] = INFINITY, values[3] = -INFINITY, values[4] = 1e-30f, values[5] = -0.0f;
  values[6] = 1.0f + std::ldexp(1.0f, -8);  // a bf16 tie: rounds to 1 (even)
  values[7] = 65520.0f;                     // rounds up past f16's largest finite value: Inf
  const Tensor as_bf16 = cast(cpu_ctx, x, DType::bf16), as_f16 = cast(cpu_ctx, x, DType::f16);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(as_bf16.data<bf16>()[i].bits, float_to_bf16(values[i]).bits) << i;
    ASSERT_EQ(as_f16.data<f16>()[i].bits, float_to_f16(values[i]).bits) << i;
  }
  EXPECT_EQ(bf16_to_float(as_bf16.data<bf16>()[6]), 1.0f);
  EXPECT_TRUE(std::isinf(f16_to_float(as_f16.data<f16>()[7])));
  EXPECT_TRUE(std::isnan(bf16_to_float(as_bf16.data<bf16>()[1])));
  // Widening is exact: bf16 -> f32 -> bf16 and f16 -> f64 round trips.
  EXPECT_EQ(
      std::memcmp(cast(cpu_ctx, cast(cpu_ctx, as_bf16, DType::f32), DType::bf16).raw(), as_bf16.raw(), as_bf16.bytes()),
      0);
  const Tensor f16_via_f64 = cast(cpu_ctx, cast(cpu_ctx, as_f16, DType::f64), DType::f16);
  EXPECT_EQ(std::memcmp(f16_via_f64.raw(), as_f16.raw(), as_f16.bytes()), 0);
  // f64 -> f32 rounds once; f32 -> f64 is exact.
  const Tensor d = testing::random_uniform(shape, DType::f64);
  const Tensor d32 = cast(cpu_ctx, d, DType::f32);
  for (std::int64_t i = 0; i < d.numel(); ++i) ASSERT_EQ(d32.data<float>()[i], static_cast<float>(d.data<double>()[i]));
  EXPECT_EQ(cast(cpu_ctx, d32, DType::f64).to_vector<double>(), d32.to_vector<double>());
  // Integers (label maps, images) to f32 / f64.
  for (DType dtype : {DType::i16, DType::i32, DType::i64, DType::u8}) {
    const Tensor labels = testing::random_labels(Shape{2, 1, 5, 7, 1}, dtype, 200);
    EXPECT_EQ(cast(cpu_ctx, labels, DType::f32).to_vector<double>(), labels.to_vector<double>()) << dtype_name(dtype);
    EXPECT_EQ(cast(cpu_ctx, labels, DType::f64).to_vector<double>(), labels.to_vector<double>()) << dtype_name(dtype);
  }
  const Tensor big = Tensor::from_vector(Shape{2}, std::vector<std::int32_t>{16777217, -16777219});
  EXPECT_EQ(cast(cpu_ctx, big, DType::f32).to_vector<double>(), (std::vector<double>{16777216.0, -16777220.0}));
  const Tensor same = cast(cpu_ctx, big, DType::i32);  // identity copies
  EXPECT_NE(same.raw(), big.raw());
  EXPECT_EQ(same.to_vector<double>(), big.to_vector<double>());
}

// The exact sum (long double accumulation of f64 values is exact enough here) and sum of |x|.
std::pair<long double, long double> reference_sum(const Tensor& x, bool squares) {
  long double total = 0, magnitude = 0;
  for (double value : x.to_vector<double>()) {
    const long double term = squares ? static_cast<long double>(value) * value : value;
    total += term;
    magnitude += std::fabs(term);
  }
  return {total, magnitude};
}

TEST(Reduce, SumMatchesLongDoubleAcrossChunks) {
  for (std::int64_t count :
       {std::int64_t{0}, std::int64_t{1}, std::int64_t{31}, 3 * kReduceChunkCpu + 17, std::int64_t{1000003}}) {
    for (DType dtype : {DType::f32, DType::f64}) {
      const Tensor x = testing::random_uniform(Shape{count}, dtype, -1, 3);
      const auto [total, magnitude] = reference_sum(x, false);
      const Tensor result = sum(cpu_ctx, x);
      ASSERT_EQ(result.rank(), 0);
      ASSERT_EQ(result.dtype(), dtype);
      const double got = result.to_vector<double>()[0];
      // f32: the f64 total rounded once to f32; f64: pairwise error, far below 1e-15 of sum |x|.
      const double allowed = dtype == DType::f32 ? 6e-8 * std::fabs(static_cast<double>(total)) + 1e-12 * magnitude
                                                 : 4e-15 * static_cast<double>(magnitude);
      EXPECT_LE(std::fabs(got - static_cast<double>(total)), allowed) << count << " " << dtype_name(dtype);
    }
  }
}

TEST(Reduce, ResultsDoNotDependOnThreadCount) {
  const Tensor x = testing::random_uniform(Shape{5 * kReduceChunkCpu + 99}, DType::f64);
  const std::vector<Tensor> list = {x, testing::random_uniform(Shape{3, 7, 11}, DType::f32)};
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one_thread = sum(cpu_ctx, x).to_vector<double>()[0];
  const float one_thread_norm = l2_norm(cpu_ctx, list).to_vector<float>()[0];
  omp_set_num_threads(std::max(2, threads));
  EXPECT_EQ(sum(cpu_ctx, x).to_vector<double>()[0], one_thread);
  EXPECT_EQ(l2_norm(cpu_ctx, list).to_vector<float>()[0], one_thread_norm);
  omp_set_num_threads(threads);
}

TEST(Reduce, L2NormOfAListMatchesLongDouble) {
  std::vector<Tensor> list;
  long double total = 0;
  for (const Shape& shape :
       {Shape{3, 3, 3, 3, 32}, Shape{32}, Shape{1}, Shape{0}, Shape{2, 1, 13, 11, 3}, Shape{2 * kReduceChunkCpu + 5}}) {
    list.push_back(testing::random_uniform(shape, list.size() % 2 ? DType::f64 : DType::f32, -2, 2));
    total += reference_sum(list.back(), true).first;
  }
  const Tensor norm = l2_norm(cpu_ctx, list);
  EXPECT_EQ(norm.dtype(), DType::f32);
  EXPECT_EQ(norm.rank(), 0);
  EXPECT_NEAR(norm.to_vector<double>()[0], std::sqrt(static_cast<double>(total)),
              1e-7 * std::sqrt(static_cast<double>(total)));
  EXPECT_EQ(l2_norm(cpu_ctx, {}).to_vector<float>()[0], 0.0f);
  list[1].data<double>()[17] = NAN;  // an f64 entry
  EXPECT_TRUE(std::isnan(l2_norm(cpu_ctx, list).to_vector<float>()[0]));
}

TEST(Reduce, AnyNonfiniteFindsNanAndInfInEveryDtype) {
  const Tensor clean_f32 = testing::random_uniform(Shape{2, 3, 5, 7, 3}, DType::f32, -60000, 60000);
  const Tensor clean_f64 = testing::random_uniform(Shape{kReduceChunkCpu + 3}, DType::f64);
  const Tensor clean_bf16 = cast(cpu_ctx, clean_f32, DType::bf16), clean_f16 = cast(cpu_ctx, clean_f32, DType::f16);
  EXPECT_EQ(any_nonfinite(cpu_ctx, {clean_f32, clean_f64, clean_bf16, clean_f16}).to_vector<float>()[0], 0.0f);
  EXPECT_EQ(any_nonfinite(cpu_ctx, {}).to_vector<float>()[0], 0.0f);
  const double specials[] = {NAN, INFINITY, -INFINITY};
  for (double special : specials) {
    for (int which = 0; which < 4; ++which) {
      std::vector<Tensor> list = {clean_f32.copy_to(cpu_ctx), clean_f64.copy_to(cpu_ctx), clean_bf16.copy_to(cpu_ctx),
                                  clean_f16.copy_to(cpu_ctx)};
      Tensor one = Tensor::empty_cpu(Shape{1}, list[static_cast<std::size_t>(which)].dtype());
      fill(cpu_ctx, one, special);
      Tensor& target = list[static_cast<std::size_t>(which)];
      const std::size_t at = static_cast<std::size_t>(target.numel() - 1) * dtype_size(target.dtype());
      std::memcpy(static_cast<char*>(target.raw()) + at, one.raw(), dtype_size(target.dtype()));
      EXPECT_EQ(any_nonfinite(cpu_ctx, list).to_vector<float>()[0], 1.0f) << special << " in list entry " << which;
    }
  }
  // f32 overflow to Inf in f16 counts: 70000 is finite in f32 but not in f16.
  EXPECT_EQ(any_nonfinite(cpu_ctx, {cast(cpu_ctx, Tensor::from_vector(Shape{1}, std::vector<float>{7e4f}), DType::f16)})
                .to_vector<float>()[0],
            1.0f);
}

TEST(Reduce, ClipFollowsTorchClipGradNorm) {
  std::vector<Tensor> grads = {testing::random_uniform(Shape{3, 3, 3, 3, 16}, DType::f32, -4, 4),
                               testing::random_uniform(Shape{16}, DType::f32),
                               testing::random_uniform(Shape{5, 7}, DType::f64)};
  const Tensor norm = l2_norm(cpu_ctx, grads);
  const float total = norm.to_vector<float>()[0];
  // Within two f32 roundings of max_norm / (norm + 1e-6), clamped to 1.
  for (double max_norm : {0.25 * total, 0.9 * total, 12.0, 2.0 * total}) {
    const double expected = std::min(1.0, max_norm / (static_cast<double>(total) + 1e-6));
    EXPECT_NEAR(clip_coefficient(cpu_ctx, norm, max_norm).to_vector<double>()[0], expected, 4e-7 * expected);
  }
  const Tensor two_norm = Tensor::from_vector(Shape{}, std::vector<float>{24.0f});
  EXPECT_EQ(clip_coefficient(cpu_ctx, two_norm, 12).to_vector<float>()[0], (1.0f / (24.0f + 1e-6f)) * 12.0f);
  EXPECT_TRUE(std::isnan(
      clip_coefficient(cpu_ctx, Tensor::from_vector(Shape{}, std::vector<float>{NAN}), 12).to_vector<float>()[0]));
  EXPECT_EQ(
      clip_coefficient(cpu_ctx, Tensor::from_vector(Shape{}, std::vector<float>{INFINITY}), 12).to_vector<float>()[0],
      0.0f);
  // A norm below max_norm leaves the gradients' bits unchanged (coefficient exactly 1).
  std::vector<Tensor> copies;
  for (const Tensor& g : grads) copies.push_back(g.copy_to(cpu_ctx));
  clip_by_total_norm(cpu_ctx, copies, norm, 2.0 * total);
  for (std::size_t i = 0; i < grads.size(); ++i)
    EXPECT_EQ(std::memcmp(copies[i].raw(), grads[i].raw(), grads[i].bytes()), 0);
  // Clipping to half the norm halves it (up to f32 roundings), elementwise by the coefficient.
  const double max_norm = 0.5 * total;
  const double coefficient = clip_coefficient(cpu_ctx, norm, max_norm).to_vector<double>()[0];
  clip_by_total_norm(cpu_ctx, copies, norm, max_norm);
  for (std::size_t i = 0; i < grads.size(); ++i) {
    std::vector<double> expected = grads[i].to_vector<double>();
    for (double& value : expected) value *= coefficient;
    EXPECT_TRUE(testing::all_close(copies[i], Tensor::from_vector(grads[i].shape(), expected), 0, 6e-8));
  }
  EXPECT_NEAR(l2_norm(cpu_ctx, copies).to_vector<double>()[0], max_norm, 1e-6 * max_norm);
}

TEST(Elementwise, MetaAllocatesExactlyAsCpu) {
  auto meta = Context::meta(Device::CPU);
  const Shape shape{2, 3, 5, 7, 3};
  const std::vector<Shape> list_shapes = {Shape{3, 3, 3, 3, 32}, Shape{32}, Shape{3 * kReduceChunkCpu + 1}, Shape{0}};
  auto run_all = [&](const Context& ctx, bool real) {
    auto make = [&](const Shape& s, DType dtype) {
      return real ? testing::random_uniform(s, dtype) : Tensor::empty(s, dtype, ctx);
    };
    const Tensor a = make(shape, DType::f32), b = make(shape, DType::f32);
    std::vector<Tensor> list;
    for (const Shape& s : list_shapes) list.push_back(make(s, DType::f32));
    Tensor y = make(shape, DType::f32);
    std::vector<std::size_t> peaks;
    const Device device = ctx.device();
    peaks.push_back(peak_bytes_of(device, [&] { add(ctx, a, b); }));
    peaks.push_back(peak_bytes_of(device, [&] { scale(ctx, a, 2.0); }));
    peaks.push_back(peak_bytes_of(device, [&] { cast(ctx, a, DType::bf16); }));
    peaks.push_back(peak_bytes_of(device, [&] { sum(ctx, list[2]); }));
    peaks.push_back(peak_bytes_of(device, [&] { l2_norm(ctx, list); }));
    peaks.push_back(peak_bytes_of(device, [&] { any_nonfinite(ctx, list); }));
    const Tensor norm = l2_norm(ctx, list);
    peaks.push_back(peak_bytes_of(device, [&] { clip_coefficient(ctx, norm, 1.0); }));
    peaks.push_back(peak_bytes_of(device, [&] { axpy(ctx, y, 2.0, a); }));
    peaks.push_back(peak_bytes_of(device, [&] { fill(ctx, y, 1.0); }));
    peaks.push_back(peak_bytes_of(device, [&] { clip_by_total_norm(ctx, list, norm, 1.0); }));
    return peaks;
  };
  const std::vector<std::size_t> on_cpu = run_all(cpu_ctx, true), on_meta = run_all(*meta, false);
  EXPECT_EQ(on_cpu, on_meta);
  EXPECT_EQ(on_cpu[0], rounded_allocation_bytes(shape.numel() * 4));
  EXPECT_EQ(on_cpu[3], 512 + rounded_allocation_bytes(4 * sizeof(double)));  // scalar + 4 chunk partials
  EXPECT_EQ(on_cpu[7] + on_cpu[8] + on_cpu[9], 0u);                          // in place: nothing allocated
  EXPECT_EQ(reduction_workspace_bytes({0, 1, kReduceChunkCuda, kReduceChunkCuda + 1}, Device::CUDA),
            4 * sizeof(double));
}

TEST(Elementwise, ArgumentErrorsNameArgumentAndValue) {
  const Tensor a = testing::random_uniform(Shape{2, 3}, DType::f32);
  const Tensor b = testing::random_uniform(Shape{3, 2}, DType::f32);
  auto cuda_meta = Context::meta(Device::CUDA);
  const Tensor meta_f64 = Tensor::empty(Shape{2, 3}, DType::f64, *cuda_meta);
  EXPECT_ERROR_MENTIONS(add(cpu_ctx, a, b),
                        "add: a f32 (2, 3) on CPU and b f32 (3, 2) on CPU must have the same shape");
  EXPECT_ERROR_MENTIONS(add(*cuda_meta, meta_f64, meta_f64), "add: a must be one of {f32, bf16} on CUDA, got f64");
  EXPECT_ERROR_MENTIONS(add(*cuda_meta, a, a), "add: a is f32 (2, 3) on CPU but the op runs on Meta");
  EXPECT_ERROR_MENTIONS(scale(cpu_ctx, a, INFINITY), "scale: s must be finite, got inf");
  Tensor y64 = testing::random_uniform(Shape{2, 3}, DType::f64);
  EXPECT_ERROR_MENTIONS(axpy(cpu_ctx, y64, 1.0, a),
                        "axpy: (y, x) dtypes must be (f32, f32), (f32, bf16) or (f64, f64)");
  Tensor labels = Tensor::empty_cpu(Shape{4}, DType::u8);
  EXPECT_ERROR_MENTIONS(fill(cpu_ctx, labels, 256), "fill: value 256 is not an integer that u8 can hold");
  EXPECT_ERROR_MENTIONS(fill(cpu_ctx, labels, 1.5), "fill: value 1.5");
  EXPECT_ERROR_MENTIONS(cast(*cuda_meta, meta_f64, DType::f32), "cast: f64 -> f32 is not supported on CUDA");
  EXPECT_ERROR_MENTIONS(cast(cpu_ctx, a, DType::i16), "cast: f32 -> i16 is not supported on CPU");
  EXPECT_ERROR_MENTIONS(l2_norm(*cuda_meta, {Tensor::empty(Shape{2}, DType::f32, *cuda_meta), meta_f64}),
                        "l2_norm: tensors[1] must be one of {f32, bf16} on CUDA, got f64");
  EXPECT_ERROR_MENTIONS(sum(cpu_ctx, Tensor()), "sum: x is an undefined tensor");
  EXPECT_ERROR_MENTIONS(clip_coefficient(cpu_ctx, a, 1.0),
                        "clip_coefficient: total_norm must be an f32 tensor of one element");
  const Tensor norm = l2_norm(cpu_ctx, {a});
  EXPECT_ERROR_MENTIONS(clip_by_total_norm(cpu_ctx, {a}, norm, -1.0),
                        "clip_by_total_norm: max_norm must be finite and > 0, got -1");
}

}  // namespace
}  // namespace nnuc
