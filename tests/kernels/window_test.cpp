// kernels/window on the CPU: extract_tiles, add_flipped_tiles, accumulate_tiles and normalize_by_weights
// against index-by-index references (f64 where they compute), with tiles reaching outside the case,
// overlapping tiles, every mirroring; Meta allocates exactly the outputs; argument errors.
#include "kernels/window/window.h"

#include <cmath>
#include <random>

#include "kernels/core/allocator.h"
#include "tests/kernels/window_test_util.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

using window_test::random_origins;

const Context& cpu_ctx = Context::cpu();

std::int64_t mirrored(std::int64_t x, std::int64_t t, bool flipped) { return flipped ? t - 1 - x : x; }

TEST(Window, ExtractTilesReadsZerosOutsideAndMirrors) {
  const Shape image_shape{3, 7, 9, 5};  // (C, b0, b1, b2)
  const Tensor image = testing::random_uniform(image_shape, DType::f32);
  const TileSize tile{4, 6, 8};  // t2 > b2: every tile reaches outside along axis 2
  std::vector<TileOrigin> origins = random_origins(5, Shape{7, 9, 5}, tile);
  origins.push_back(TileOrigin{-3, -5, -7});  // almost entirely outside
  origins.push_back(TileOrigin{0, 0, -1});
  const float* in = image.data<float>();
  for (unsigned flips = 0; flips < 8; ++flips) {
    const Tensor out = extract_tiles(cpu_ctx, image, origins, tile, flips, DType::f32);
    ASSERT_EQ(out.shape(), (Shape{7, 4, 6, 8, 3}));
    const float* o = out.data<float>();
    std::int64_t i = 0, zeros = 0;
    for (std::size_t n = 0; n < origins.size(); ++n)
      for (std::int64_t x0 = 0; x0 < 4; ++x0)
        for (std::int64_t x1 = 0; x1 < 6; ++x1)
          for (std::int64_t x2 = 0; x2 < 8; ++x2)
            for (std::int64_t c = 0; c < 3; ++c, ++i) {
              const std::int64_t v0 = origins[n][0] + mirrored(x0, 4, flips & kFlipD);
              const std::int64_t v1 = origins[n][1] + mirrored(x1, 6, flips & kFlipH);
              const std::int64_t v2 = origins[n][2] + mirrored(x2, 8, flips & kFlipW);
              const bool inside = v0 >= 0 && v0 < 7 && v1 >= 0 && v1 < 9 && v2 >= 0 && v2 < 5;
              const float expected = inside ? in[((c * 7 + v0) * 9 + v1) * 5 + v2] : 0.0f;
              zeros += !inside;
              ASSERT_EQ(o[i], expected) << "flips " << flips << " tile " << n << " at " << x0 << "," << x1 << "," << x2;
            }
    EXPECT_GT(zeros, 0);
  }
}

TEST(Window, AddFlippedTilesOverwritesThenSums) {
  const Shape shape{3, 2, 5, 4, 3};  // (N, t0, t1, t2, K)
  for (unsigned flips = 0; flips < 8; ++flips) {
    const Tensor first = testing::random_uniform(shape, DType::f32, -5, 5);
    const Tensor second = testing::random_uniform(shape, DType::f32, -5, 5);
    Tensor sum = testing::random_uniform(shape, DType::f32);  // overwritten
    add_flipped_tiles(cpu_ctx, first, flips, sum, true);
    add_flipped_tiles(cpu_ctx, second, flips, sum, false);
    const float *a = first.data<float>(), *b = second.data<float>(), *s = sum.data<float>();
    std::int64_t i = 0;
    for (std::int64_t n = 0; n < 3; ++n)
      for (std::int64_t x0 = 0; x0 < 2; ++x0)
        for (std::int64_t x1 = 0; x1 < 5; ++x1)
          for (std::int64_t x2 = 0; x2 < 4; ++x2)
            for (std::int64_t k = 0; k < 3; ++k, ++i) {
              const std::int64_t source =
                  (((n * 2 + mirrored(x0, 2, flips & kFlipD)) * 5 + mirrored(x1, 5, flips & kFlipH)) * 4 +
                   mirrored(x2, 4, flips & kFlipW)) *
                      3 +
                  k;
              // One f32 addition: the double sum of two floats rounded once is the f32 sum.
              ASSERT_EQ(s[i], static_cast<float>(double(a[source]) + double(b[source]))) << "flips " << flips;
            }
  }
}

TEST(Window, AccumulateTilesMatchesAFloat64Reference) {
  const std::int64_t K = 3, b0 = 6, b1 = 11, b2 = 7;
  const TileSize tile{4, 6, 5};
  const std::vector<TileOrigin> origins = random_origins(9, Shape{b0, b1, b2}, tile);  // overlapping
  const Tensor tile_sum = testing::random_uniform(Shape{9, 4, 6, 5, K}, DType::f32, -3, 3);
  const Tensor gaussian = testing::random_uniform(Shape{4, 6, 5}, DType::f32, 0.01, 10);
  Tensor acc = testing::random_uniform(Shape{K, b0, b1, b2}, DType::f32);
  Tensor weights = testing::random_uniform(Shape{b0, b1, b2}, DType::f32, 0.5, 1);
  std::vector<double> expected_acc = testing::as_f64(acc).to_vector<double>();
  std::vector<double> expected_weights = testing::as_f64(weights).to_vector<double>();
  const float* t = tile_sum.data<float>();
  const float* g = gaussian.data<float>();
  for (std::size_t n = 0; n < origins.size(); ++n)
    for (std::int64_t x0 = 0; x0 < 4; ++x0)
      for (std::int64_t x1 = 0; x1 < 6; ++x1)
        for (std::int64_t x2 = 0; x2 < 5; ++x2) {
          const std::int64_t v0 = origins[n][0] + x0, v1 = origins[n][1] + x1, v2 = origins[n][2] + x2;
          if (v0 < 0 || v0 >= b0 || v1 < 0 || v1 >= b1 || v2 < 0 || v2 >= b2) continue;
          const std::int64_t x = (x0 * 6 + x1) * 5 + x2, v = (v0 * b1 + v1) * b2 + v2;
          for (std::int64_t k = 0; k < K; ++k)
            expected_acc[static_cast<std::size_t>(k * b0 * b1 * b2 + v)] +=
                double(t[(static_cast<std::int64_t>(n) * 120 + x) * K + k]) * 0.25 * g[x];
          expected_weights[static_cast<std::size_t>(v)] += g[x];
        }
  accumulate_tiles(cpu_ctx, tile_sum, gaussian, 0.25f, origins, acc, weights);
  // f32 sums of at most 9 terms of magnitude <= 3 * 10 * 0.25: a few f32 roundings of ~70.
  EXPECT_TRUE(testing::all_close(acc, Tensor::from_vector(acc.shape(), expected_acc), 1e-4, 1e-6));
  EXPECT_TRUE(testing::all_close(weights, Tensor::from_vector(weights.shape(), expected_weights), 1e-5, 1e-6));
}

TEST(Window, NormalizeByWeightsDividesEveryChannel) {
  Tensor acc = testing::random_uniform(Shape{4, 3, 5, 6}, DType::f32, -10, 10);
  const Tensor weights = testing::random_uniform(Shape{3, 5, 6}, DType::f32, 0.001, 20);
  const std::vector<float> before = acc.to_vector<float>(), w = weights.to_vector<float>();
  normalize_by_weights(cpu_ctx, acc, weights);
  const std::vector<float> after = acc.to_vector<float>();
  for (std::size_t i = 0; i < after.size(); ++i)
    ASSERT_EQ(after[i], static_cast<float>(double(before[i]) / double(w[i % w.size()])));  // correctly rounded
}

TEST(Window, MetaAllocatesTheOutputsOnly) {
  auto meta = Context::meta(Device::CUDA);
  const Tensor image = Tensor::empty(Shape{2, 9, 9, 9}, DType::f32, *meta);
  const std::size_t peak = testing::peak_bytes_of(Device::Meta, [&] {
    const Tensor out =
        extract_tiles(*meta, image, {TileOrigin{0, 0, 0}, TileOrigin{1, 1, 1}}, {4, 4, 4}, 0, DType::bf16);
    EXPECT_EQ(out.shape(), (Shape{2, 4, 4, 4, 2}));
    EXPECT_EQ(out.dtype(), DType::bf16);
    Tensor sum = Tensor::empty(Shape{2, 4, 4, 4, 3}, DType::f32, *meta);
    Tensor acc = Tensor::empty(Shape{3, 9, 9, 9}, DType::f32, *meta);
    Tensor weights = Tensor::empty(Shape{9, 9, 9}, DType::f32, *meta);
    const Tensor gaussian = Tensor::empty(Shape{4, 4, 4}, DType::f32, *meta);
    accumulate_tiles(*meta, sum, gaussian, 1.0f, {TileOrigin{0, 0, 0}, TileOrigin{1, 1, 1}}, acc, weights);
    normalize_by_weights(*meta, acc, weights);
  });
  const std::size_t expected = rounded_allocation_bytes(2 * 64 * 2 * 2) + rounded_allocation_bytes(2 * 64 * 3 * 4) +
                               rounded_allocation_bytes(3 * 729 * 4) + rounded_allocation_bytes(729 * 4) +
                               rounded_allocation_bytes(64 * 4);
  EXPECT_EQ(peak, expected);
}

TEST(Window, ArgumentErrorsNameTheOpAndTheArgument) {
  const Tensor image = testing::random_uniform(Shape{1, 4, 4, 4}, DType::f32);
  EXPECT_ERROR_MENTIONS(extract_tiles(cpu_ctx, image, {}, {2, 2, 2}, 0, DType::f32), "no tile origins");
  EXPECT_ERROR_MENTIONS(extract_tiles(cpu_ctx, image, {TileOrigin{}}, {2, 2, 2}, 0, DType::bf16), "f32 on the CPU");
  EXPECT_ERROR_MENTIONS(extract_tiles(cpu_ctx, image, {TileOrigin{}}, {2, 2, 2}, 8, DType::f32), "flip_axes");
  EXPECT_ERROR_MENTIONS(extract_tiles(cpu_ctx, image.reshape(Shape{4, 4, 4}), {TileOrigin{}}, {2, 2, 2}, 0, DType::f32),
                        "extract_tiles: image must be f32 of rank 4");
  Tensor acc = testing::random_uniform(Shape{2, 4, 4, 4}, DType::f32);
  Tensor weights = testing::random_uniform(Shape{4, 4, 4}, DType::f32);
  const Tensor sum = testing::random_uniform(Shape{1, 2, 2, 2, 3}, DType::f32);
  const Tensor gaussian = testing::random_uniform(Shape{2, 2, 2}, DType::f32);
  EXPECT_ERROR_MENTIONS(accumulate_tiles(cpu_ctx, sum, gaussian, 1.0f, {TileOrigin{}}, acc, weights), "channels");
  const Tensor sum2 = testing::random_uniform(Shape{2, 2, 2, 2, 2}, DType::f32);
  EXPECT_ERROR_MENTIONS(accumulate_tiles(cpu_ctx, sum2, gaussian, 1.0f, {TileOrigin{}}, acc, weights),
                        "1 origins for 2 tiles");
  Tensor wrong_weights = testing::random_uniform(Shape{4, 4, 5}, DType::f32);
  EXPECT_ERROR_MENTIONS(normalize_by_weights(cpu_ctx, acc, wrong_weights), "normalize_by_weights: weights");
  Tensor logits = testing::random_uniform(Shape{1, 2, 2, 2, 3}, DType::f32);
  EXPECT_ERROR_MENTIONS(add_flipped_tiles(cpu_ctx, logits, 0, logits, false), "same tensor");
}

}  // namespace
}  // namespace nnuc
