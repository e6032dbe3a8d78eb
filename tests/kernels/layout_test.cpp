// kernels/layout on the CPU: concat_channels / split_channels, flip, resize_nearest_exact and the
// average pooling against index-by-index references (any dtype, label maps included), a
// central-difference gradcheck and the adjoint identity in f64, Meta-vs-CPU allocator peaks and
// argument errors.
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/core/allocator.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/layout/avg_pool.h"
#include "kernels/layout/concat.h"
#include "kernels/layout/flip.h"
#include "kernels/layout/resize_nearest.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

const Context& cpu_ctx = Context::cpu();

using testing::peak_bytes_of;

// A random host tensor of any dtype (labels for the integer ones).
Tensor random_any(const Shape& shape, DType dtype) {
  switch (dtype) {
    case DType::f32:
    case DType::f64: return testing::random_uniform(shape, dtype);
    case DType::bf16:
    case DType::f16: return cast(cpu_ctx, testing::random_uniform(shape, DType::f32), dtype);
    default: return testing::random_labels(shape, dtype, 120);
  }
}

// Element `index` of a host tensor, as raw bytes.
const char* element(const Tensor& t, std::int64_t index) {
  return static_cast<const char*>(t.raw()) + static_cast<std::size_t>(index) * dtype_size(t.dtype());
}
bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         (a.bytes() == 0 || std::memcmp(a.raw(), b.raw(), a.bytes()) == 0);
}

const DType kAllDtypes[] = {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i16, DType::u8, DType::i32};

TEST(Layout, ConcatAndSplitAreExactInverses) {
  struct Case {
    Shape a, b;
  };
  for (const Case& c :
       {Case{Shape{2, 3, 5, 7, 3}, Shape{2, 3, 5, 7, 5}}, Case{Shape{1, 1, 9, 11, 1}, Shape{1, 1, 9, 11, 2}},
        Case{Shape{2, 2, 3, 4, 32}, Shape{2, 2, 3, 4, 32}}, Case{Shape{13, 4}, Shape{13, 1}}}) {
    for (DType dtype : kAllDtypes) {
      const Tensor a = random_any(c.a, dtype), b = random_any(c.b, dtype);
      const Tensor out = concat_channels(cpu_ctx, a, b);
      const std::int64_t ca = a.dim(a.rank() - 1), cb = b.dim(b.rank() - 1), rows = a.numel() / ca;
      ASSERT_EQ(out.dim(out.rank() - 1), ca + cb);
      const std::size_t size = dtype_size(dtype);
      for (std::int64_t row = 0; row < rows; ++row)
        for (std::int64_t ch = 0; ch < ca + cb; ++ch) {
          const char* expected = ch < ca ? element(a, row * ca + ch) : element(b, row * cb + ch - ca);
          ASSERT_EQ(std::memcmp(element(out, row * (ca + cb) + ch), expected, size), 0)
              << dtype_name(dtype) << " row " << row << " channel " << ch;
        }
      const auto [first, second] = split_channels(cpu_ctx, out, ca);
      EXPECT_TRUE(same_bytes(first, a)) << dtype_name(dtype);
      EXPECT_TRUE(same_bytes(second, b)) << dtype_name(dtype);
    }
  }
}

TEST(Layout, FlipMatchesIndexRuleAndTwiceIsIdentity) {
  for (const Shape& shape : {Shape{2, 3, 5, 7, 3}, Shape{3, 1, 4, 9, 1}, Shape{1, 2, 1, 1, 16}}) {
    for (DType dtype : {DType::f32, DType::bf16, DType::i16, DType::u8, DType::f64}) {
      const Tensor x = random_any(shape, dtype);
      const std::int64_t D = shape[1], H = shape[2], W = shape[3], C = shape[4];
      for (unsigned axes = 0; axes < 8; ++axes) {
        const Tensor out = flip(cpu_ctx, x, axes);
        for (std::int64_t i = 0; i < x.numel(); ++i) {
          const std::int64_t c = i % C, w = i / C % W, h = i / (C * W) % H, d = i / (C * W * H) % D,
                             n = i / (C * W * H * D);
          const std::int64_t sd = axes & kFlipD ? D - 1 - d : d, sh = axes & kFlipH ? H - 1 - h : h;
          const std::int64_t sw = axes & kFlipW ? W - 1 - w : w;
          ASSERT_EQ(
              std::memcmp(element(out, i), element(x, (((n * D + sd) * H + sh) * W + sw) * C + c), dtype_size(dtype)),
              0)
              << "axes " << axes << " index " << i;
        }
        EXPECT_TRUE(same_bytes(flip(cpu_ctx, out, axes), x)) << "axes " << axes;
      }
    }
  }
}

// The exact rational rule floor((2 dst + 1) in / (2 out)), clamped.
std::int64_t exact_rule(std::int64_t dst, std::int64_t in, std::int64_t out) {
  return std::min((2 * dst + 1) * in / (2 * out), in - 1);
}

TEST(Layout, NearestExactIndexRule) {
  // Odd sizes (5 x 7 x 9 -> 3 x 4 x 5), the usual halving and identity: the f32 rule equals the
  // exact formula, as in PyTorch.
  const std::pair<std::int64_t, std::int64_t> sizes[] = {{5, 3}, {7, 4}, {9, 5}, {64, 32}, {10, 5},
                                                         {7, 7}, {3, 7}, {1, 4}, {4, 1}};
  for (const auto& [in, out] : sizes)
    for (std::int64_t dst = 0; dst < out; ++dst)
      EXPECT_EQ(nearest_exact_source_index(dst, in, out), exact_rule(dst, in, out))
          << in << " -> " << out << " @" << dst;
  for (std::int64_t dst = 0; dst < 32; ++dst) EXPECT_EQ(nearest_exact_source_index(dst, 64, 32), 2 * dst + 1);
  // PyTorch's f32 rounding differs from the exact formula here: fl32(5.5 * fl32(26 / 11)) < 13.
  EXPECT_EQ(nearest_exact_source_index(5, 26, 11), 12);
  EXPECT_EQ(exact_rule(5, 26, 11), 13);
  // Deep-supervision extents: Python's round, half to even.
  EXPECT_EQ(deep_supervision_extent(5, 0.5), 2);
  EXPECT_EQ(deep_supervision_extent(7, 0.5), 4);
  EXPECT_EQ(deep_supervision_extent(9, 0.5), 4);
  EXPECT_EQ(deep_supervision_extent(160, 0.125), 20);
  EXPECT_EQ(deep_supervision_extent(3, 1.0), 3);
  EXPECT_ERROR_MENTIONS(deep_supervision_extent(1, 0.25),
                        "deep_supervision_extent: extent 1 at scale 0.25 rounds to 0");
}

TEST(Layout, ResizeNearestExactOnLabelMapsAndImages) {
  struct Case {
    Shape in;
    std::array<std::int64_t, 3> out;
  };
  for (const Case& c : {Case{Shape{2, 5, 7, 9, 1}, {3, 4, 5}}, Case{Shape{2, 8, 10, 12, 1}, {4, 5, 6}},
                        Case{Shape{1, 1, 26, 13, 2}, {1, 11, 13}}, Case{Shape{3, 3, 4, 5, 3}, {7, 4, 9}}}) {
    for (DType dtype : {DType::i16, DType::u8, DType::f32, DType::bf16}) {
      const Tensor x = random_any(c.in, dtype);
      const Tensor out = resize_nearest_exact(cpu_ctx, x, c.out);
      ASSERT_EQ(out.shape(), (Shape{c.in[0], c.out[0], c.out[1], c.out[2], c.in[4]}));
      const std::int64_t D = c.in[1], H = c.in[2], W = c.in[3], C = c.in[4];
      const auto [Do, Ho, Wo] = c.out;
      for (std::int64_t i = 0; i < out.numel(); ++i) {
        const std::int64_t ch = i % C, w = i / C % Wo, h = i / (C * Wo) % Ho, d = i / (C * Wo * Ho) % Do;
        const std::int64_t n = i / (C * Wo * Ho * Do);
        const std::int64_t sd = nearest_exact_source_index(d, D, Do), sh = nearest_exact_source_index(h, H, Ho);
        const std::int64_t sw = nearest_exact_source_index(w, W, Wo);
        ASSERT_EQ(
            std::memcmp(element(out, i), element(x, (((n * D + sd) * H + sh) * W + sw) * C + ch), dtype_size(dtype)), 0)
            << dtype_name(dtype) << " " << c.in.str() << " index " << i;
      }
    }
  }
  const Tensor x = testing::random_labels(Shape{2, 3, 5, 7, 1}, DType::i16, 4);
  EXPECT_TRUE(same_bytes(resize_nearest_exact(cpu_ctx, x, {3, 5, 7}), x));  // same size: identity
}

// Reference pooling in f64 with the window summed in (kd, kh, kw) order.
std::vector<double> reference_pool(const Tensor& x, const std::array<std::int64_t, 3>& k) {
  const Shape out = avg_pool_output_shape(x.shape(), k);
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> y(static_cast<std::size_t>(out.numel()), 0.0);
  const std::int64_t D = x.dim(1), H = x.dim(2), W = x.dim(3), C = x.dim(4);
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    const std::int64_t c = i % C, ow = i / C % out[3], oh = i / (C * out[3]) % out[2];
    const std::int64_t od = i / (C * out[3] * out[2]) % out[1], n = i / (C * out[3] * out[2] * out[1]);
    double sum = 0;
    for (std::int64_t a = 0; a < k[0]; ++a)
      for (std::int64_t b = 0; b < k[1]; ++b)
        for (std::int64_t e = 0; e < k[2]; ++e)
          sum +=
              v[static_cast<std::size_t>((((n * D + od * k[0] + a) * H + oh * k[1] + b) * W + ow * k[2] + e) * C + c)];
    y[static_cast<std::size_t>(i)] = sum / static_cast<double>(k[0] * k[1] * k[2]);
  }
  return y;
}

struct PoolCase {
  Shape input;
  std::array<std::int64_t, 3> kernel;
};
const PoolCase kPoolCases[] = {{Shape{2, 4, 6, 8, 3}, {2, 2, 2}},
                               {Shape{2, 1, 6, 10, 5}, {1, 2, 2}},
                               {Shape{1, 5, 7, 9, 2}, {2, 2, 2}},  // trailing planes left out
                               {Shape{3, 6, 4, 9, 1}, {3, 1, 3}},  // anisotropic
                               {Shape{1, 2, 2, 2, 4}, {2, 2, 2}}};

TEST(Layout, AvgPoolForwardMatchesDoubleReference) {
  for (const PoolCase& c : kPoolCases) {
    for (DType dtype : {DType::f32, DType::f64}) {
      const Tensor x = testing::random_uniform(c.input, dtype);
      const Tensor y = avg_pool_forward(cpu_ctx, x, c.kernel);
      const Shape expected_shape = avg_pool_output_shape(c.input, c.kernel);
      ASSERT_EQ(y.shape(), expected_shape);
      // f32: up to 27 rounded additions and a rounded division of values <= 1.
      EXPECT_TRUE(testing::all_close(y, Tensor::from_vector(expected_shape, reference_pool(x, c.kernel)),
                                     dtype == DType::f32 ? 4e-7 : 1e-15, 0))
          << c.input.str() << " " << dtype_name(dtype);
    }
  }
}

double dot(const Tensor& a, const Tensor& b) {
  const std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  double total = 0;
  for (std::size_t i = 0; i < av.size(); ++i) total += av[i] * bv[i];
  return total;
}

TEST(Layout, AvgPoolBackwardIsTheGradientAndTheAdjoint) {
  for (const PoolCase& c : kPoolCases) {
    const Tensor x = testing::random_uniform(c.input, DType::f64);
    const Shape pooled = avg_pool_output_shape(c.input, c.kernel);
    const Tensor w = testing::random_uniform(pooled, DType::f64);  // L(x) = <w, pool(x)>
    const Tensor grad = avg_pool_backward(cpu_ctx, w, c.input, c.kernel);
    ASSERT_EQ(grad.shape(), c.input);
    // Central differences on every input element.
    const double step = 1e-3;
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      Tensor plus = x.copy_to(cpu_ctx), minus = x.copy_to(cpu_ctx);
      plus.data<double>()[i] += step;
      minus.data<double>()[i] -= step;
      const double numeric =
          (dot(w, avg_pool_forward(cpu_ctx, plus, c.kernel)) - dot(w, avg_pool_forward(cpu_ctx, minus, c.kernel))) /
          (2 * step);
      ASSERT_NEAR(grad.data<double>()[i], numeric, 1e-9) << c.input.str() << " index " << i;
    }
    // <pool(x), w> == <x, pool_backward(w)>.
    const double left = dot(avg_pool_forward(cpu_ctx, x, c.kernel), w), right = dot(x, grad);
    EXPECT_NEAR(left, right, 1e-12 * (1 + std::fabs(left)));
    const Tensor grad32 = avg_pool_backward(cpu_ctx, testing::as_f32(w), c.input, c.kernel);
    EXPECT_TRUE(testing::all_close(grad32, grad, 1e-7, 0));
  }
}

TEST(Layout, MetaAllocatesExactlyAsCpu) {
  auto meta = Context::meta(Device::CPU);
  auto run_all = [&](const Context& ctx, bool real) {
    auto make = [&](const Shape& s, DType dtype) { return real ? random_any(s, dtype) : Tensor::empty(s, dtype, ctx); };
    const Tensor a = make(Shape{2, 3, 5, 7, 3}, DType::f32), b = make(Shape{2, 3, 5, 7, 5}, DType::f32);
    const Tensor labels = make(Shape{2, 5, 7, 9, 1}, DType::i16), pooled = make(Shape{2, 1, 2, 3, 3}, DType::f32);
    const Device device = ctx.device();
    return std::vector<std::size_t>{peak_bytes_of(device, [&] { concat_channels(ctx, a, b); }),
                                    peak_bytes_of(device, [&] { split_channels(ctx, b, 2); }),
                                    peak_bytes_of(device, [&] { flip(ctx, a, kFlipD | kFlipW); }),
                                    peak_bytes_of(device,
                                                  [&] {
                                                    resize_nearest_exact(ctx, labels, {3, 4, 5});
                                                  }),
                                    peak_bytes_of(device,
                                                  [&] {
                                                    avg_pool_forward(ctx, a, {2, 2, 2});
                                                  }),
                                    peak_bytes_of(device, [&] {
                                      avg_pool_backward(ctx, pooled, a.shape(), {2, 2, 2});
                                    })};
  };
  const std::vector<std::size_t> on_cpu = run_all(cpu_ctx, true);
  EXPECT_EQ(on_cpu, run_all(*meta, false));
  EXPECT_EQ(on_cpu[0], rounded_allocation_bytes(2 * 3 * 5 * 7 * 8 * 4));
  EXPECT_EQ(on_cpu[1],
            rounded_allocation_bytes(2 * 3 * 5 * 7 * 2 * 4) + rounded_allocation_bytes(2 * 3 * 5 * 7 * 3 * 4));
  EXPECT_EQ(on_cpu[3], rounded_allocation_bytes(2 * 3 * 4 * 5 * 2));
}

TEST(Layout, ArgumentErrorsNameArgumentAndValue) {
  const Tensor a = testing::random_uniform(Shape{2, 3, 5, 7, 3}, DType::f32);
  const Tensor b = testing::random_uniform(Shape{2, 3, 5, 6, 3}, DType::f32);
  EXPECT_ERROR_MENTIONS(concat_channels(cpu_ctx, a, b), "differ in axis 3 (only the last, channel axis may differ)");
  EXPECT_ERROR_MENTIONS(concat_channels(cpu_ctx, a, testing::as_f64(a)), "must have the same rank (>= 1) and dtype");
  EXPECT_ERROR_MENTIONS(split_channels(cpu_ctx, a, 3), "split_channels: channels_first must be in [1, 2]");
  EXPECT_ERROR_MENTIONS(split_channels(cpu_ctx, a, 0), "got 0");
  EXPECT_ERROR_MENTIONS(flip(cpu_ctx, a, 8), "flip: axes must be a subset of kFlipD | kFlipH | kFlipW (7), got 8");
  EXPECT_ERROR_MENTIONS(flip(cpu_ctx, a.reshape(Shape{30, 7, 3}), 1),
                        "flip: x must be (N, D, H, W, C), got f32 (30, 7, 3)");
  EXPECT_ERROR_MENTIONS(resize_nearest_exact(cpu_ctx, a, {3, 0, 2}),
                        "out_spatial must be >= 1 per axis, got (3, 0, 2)");
  EXPECT_ERROR_MENTIONS(avg_pool_forward(cpu_ctx, a, {2, 6, 2}), "kernel (2, 6, 2) is larger than the spatial extent");
  EXPECT_ERROR_MENTIONS(avg_pool_forward(cpu_ctx, a, {0, 1, 1}),
                        "avg_pool_forward: kernel must be >= 1 per axis, got (0, 1, 1)");
  EXPECT_ERROR_MENTIONS(avg_pool_backward(cpu_ctx, a, a.shape(), {2, 2, 2}),
                        "avg_pool_backward: grad_out must have shape (2, 1, 2, 3, 3)");
  EXPECT_ERROR_MENTIONS(
      avg_pool_forward(cpu_ctx, testing::random_labels(Shape{1, 2, 2, 2, 1}, DType::i16, 3), {2, 2, 2}),
      "avg_pool_forward: x must be one of {f32, f64} on CPU, got i16");
}

}  // namespace
}  // namespace nnuc
