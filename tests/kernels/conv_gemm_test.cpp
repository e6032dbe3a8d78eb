// The AVX2 + FMA GEMM behind the f32 CPU convolutions (kernels/conv/conv_gemm.h) against a double
// reference, over every micro-tile path: full 16-column panels, edge panels of 9-15 columns, narrow
// panels of 1-8 columns (the one-accumulator tile, 12 rows from a row-major or a packed A), pairs of
// panels (AVX-512: a whole panel and 1-16 more columns), row counts that leave every remainder, K
// beyond one K block, A row-major and column-major (packed per block), B packed and plain, C written
// and accumulated into; the AVX-512 tiles bit for bit equal to the AVX2 ones where the CPU has
// AVX-512. Skipped on CPUs without AVX2.
#include "kernels/conv/conv_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace nnuc::cpu {
namespace {

// Relative to sum_k |a_ik b_kj| (the reference's own scale): f32 products summed over up to 600
// terms in blocks of 256 stay within ~k * 2^-24 of it; 1e-5 leaves a wide margin at k <= 600.
constexpr double kTolerance = 1e-5;

struct Layout {
  bool a_column_major;
  bool b_packed;
  bool accumulate;
};

void check(std::int64_t m, std::int64_t n, std::int64_t k, Layout layout, std::mt19937& random) {
  SCOPED_TRACE(::testing::Message() << "m " << m << " n " << n << " k " << k << " A "
                                    << (layout.a_column_major ? "column-major" : "row-major") << " B "
                                    << (layout.b_packed ? "packed" : "plain") << (layout.accumulate ? " +=" : " ="));
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
  for (float& x : a) x = value(random);
  for (float& x : b) x = value(random);
  // C has a row stride wider than n: the columns past n must be left alone.
  const std::int64_t c_row = n + 3;
  std::vector<float> c(static_cast<std::size_t>(m * c_row));
  for (float& x : c) x = value(random);
  const std::vector<float> before = c;

  auto a_at = [&](std::int64_t i, std::int64_t p) {
    return a[static_cast<std::size_t>(layout.a_column_major ? p * m + i : i * k + p)];
  };
  const GemmA a_operand = layout.a_column_major ? GemmA{a.data(), 1, m} : GemmA{a.data(), k, 1};
  std::vector<float> packed;
  GemmB b_operand{b.data(), n, false};
  if (layout.b_packed) {
    packed.assign(static_cast<std::size_t>(packed_b_elements(k, n)), -7.0f);
    for (std::int64_t panel = 0; panel * kGemmPanelWidth < n; ++panel)
      for (std::int64_t p = 0; p < k; ++p)
        for (std::int64_t j = 0; j < kGemmPanelWidth; ++j) {
          const std::int64_t column = panel * kGemmPanelWidth + j;
          packed[static_cast<std::size_t>((panel * k + p) * kGemmPanelWidth + j)] =
              column < n ? b[static_cast<std::size_t>(p * n + column)] : 0.0f;
        }
    b_operand = GemmB{packed.data(), kGemmPanelWidth, true};
  }
  // The 256-bit tiles, then (where the CPU has AVX-512) the 512-bit ones: the same bits.
  gemm_allow_avx512(false);
  gemm_f32_avx2(m, n, k, a_operand, b_operand, c.data(), c_row, layout.accumulate);
  gemm_allow_avx512(true);
  if (has_avx512f()) {
    std::vector<float> wide = before;
    gemm_f32_avx2(m, n, k, a_operand, b_operand, wide.data(), c_row, layout.accumulate);
    ASSERT_EQ(wide, c) << "the AVX-512 tiles differ from the AVX2 ones";
  }

  double worst = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double expected = layout.accumulate ? before[static_cast<std::size_t>(i * c_row + j)] : 0.0;
      double scale = std::abs(expected);
      for (std::int64_t p = 0; p < k; ++p) {
        const double product = static_cast<double>(a_at(i, p)) * b[static_cast<std::size_t>(p * n + j)];
        expected += product;
        scale += std::abs(product);
      }
      const double error = std::abs(c[static_cast<std::size_t>(i * c_row + j)] - expected) / std::max(scale, 1e-30);
      worst = std::max(worst, error);
    }
    for (std::int64_t j = n; j < c_row; ++j)
      ASSERT_EQ(c[static_cast<std::size_t>(i * c_row + j)], before[static_cast<std::size_t>(i * c_row + j)])
          << "row " << i << " column " << j << " lies past n and was written";
  }
  EXPECT_LE(worst, kTolerance);
}

TEST(ConvGemmAvx2, EveryMicroTilePathMatchesADoubleReference) {
  if (!has_avx2_fma()) GTEST_SKIP() << "this CPU has no AVX2 + FMA";
  std::mt19937 random(std::random_device{}());
  const std::int64_t columns[] = {1, 3, 4, 7, 8, 9, 15, 16, 17, 20, 24, 32, 33, 40, 48, 72};
  const std::int64_t rows[] = {1, 5, 6, 7, 11, 12, 13, 25, 73, 330};
  const std::int64_t depths[] = {1, 27, 300};
  for (const std::int64_t n : columns)
    for (const std::int64_t m : rows)
      for (const std::int64_t k : depths)
        for (const bool a_column_major : {false, true})
          for (const bool b_packed : {false, true})
            for (const bool accumulate : {false, true})
              check(m, n, k, Layout{a_column_major, b_packed, accumulate}, random);
}

// The indirect GEMM of the in-place convolutions: segments at arbitrary offsets into one A buffer (some
// overlapping, as a convolution's taps do), B rows taken out of order from packed panels, every row
// count of the 12-row tile, one panel (full or not), a pair (full or not), a pair and a single panel;
// C with a wider row stride (columns past n untouched), written or accumulated.
TEST(ConvGemmAvx2, SegmentedAMatchesADoubleReference) {
  if (!has_avx512f()) GTEST_SKIP() << "this CPU has no AVX-512";
  std::mt19937 random(std::random_device{}());
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (std::int64_t n : {5, 16, 20, 32, 40, 64}) {
    for (std::int64_t m : {1, 7, 12, 13, 30}) {
      for (bool accumulate : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "m " << m << " n " << n << (accumulate ? " +=" : " ="));
        const std::int64_t length = 7, a_row = 9, b_rows = 40;
        const int count = 5;
        std::vector<GemmSegment> segments;
        for (int s = 0; s < count; ++s)
          segments.push_back(GemmSegment{static_cast<std::int64_t>(random() % 20),
                                         static_cast<std::int64_t>(random() % (b_rows - length + 1))});
        std::vector<float> a(static_cast<std::size_t>(20 + m * a_row + length)),
            b(static_cast<std::size_t>(b_rows * n));
        for (float& x : a) x = value(random);
        for (float& x : b) x = value(random);
        std::vector<float> packed(static_cast<std::size_t>(packed_b_elements(b_rows, n)), 0.0f);
        for (std::int64_t p = 0; p < b_rows; ++p)
          for (std::int64_t j = 0; j < n; ++j)
            packed[static_cast<std::size_t>(((j / kGemmPanelWidth) * b_rows + p) * kGemmPanelWidth +
                                            j % kGemmPanelWidth)] = b[static_cast<std::size_t>(p * n + j)];
        const std::int64_t c_row = n + 3;
        std::vector<float> c(static_cast<std::size_t>(m * c_row));
        for (float& x : c) x = value(random);
        const std::vector<float> before = c;
        gemm_f32_segments_avx512(m, n, length, segments.data(), count, a.data(), a_row, packed.data(), b_rows, c.data(),
                                 c_row, accumulate);
        double worst = 0;
        for (std::int64_t i = 0; i < m; ++i) {
          for (std::int64_t j = 0; j < n; ++j) {
            double expected = accumulate ? before[static_cast<std::size_t>(i * c_row + j)] : 0.0;
            double scale = std::abs(expected);
            for (const GemmSegment& segment : segments)
              for (std::int64_t p = 0; p < length; ++p) {
                const double product =
                    static_cast<double>(a[static_cast<std::size_t>(segment.a_offset + i * a_row + p)]) *
                    b[static_cast<std::size_t>((segment.b_row + p) * n + j)];
                expected += product;
                scale += std::abs(product);
              }
            worst = std::max(worst, std::abs(c[static_cast<std::size_t>(i * c_row + j)] - expected) / scale);
          }
          for (std::int64_t j = n; j < c_row; ++j)
            ASSERT_EQ(c[static_cast<std::size_t>(i * c_row + j)], before[static_cast<std::size_t>(i * c_row + j)]);
        }
        EXPECT_LE(worst, kTolerance);
      }
    }
  }
}

}  // namespace
}  // namespace nnuc::cpu
