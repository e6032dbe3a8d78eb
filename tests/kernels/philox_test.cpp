// Philox4x32-10 against the known-answer vectors of Random123 (kat_vectors: philox4x32_10), and the
// properties the training run relies on: pure function of (key, counter), streams apart.
#include "kernels/core/philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace nnuc {
namespace {

TEST(Philox, KnownAnswerVectors) {
  const Philox4 zero = philox4x32({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  const Philox4 ones = philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  EXPECT_EQ(ones.v[0], 0x408f276du);
  EXPECT_EQ(ones.v[1], 0x41c83b0eu);
  EXPECT_EQ(ones.v[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.v[3], 0x6d5451fdu);
  const Philox4 pi = philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u});
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(Philox, DrawsArePureFunctionsOfKeyAndCounter) {
  const PhiloxKey key = philox_key(20261204, PhiloxStream::augmentation);
  PhiloxDraws a(key, 7, 1, 3), b(key, 7, 1, 3), other_iteration(key, 8, 1, 3);
  for (int i = 0; i < 100; ++i) {
    const std::uint32_t x = a.next_u32();
    EXPECT_EQ(x, b.next_u32());
    (void)other_iteration;
  }
  PhiloxDraws c(key, 7, 1, 3), d(key, 8, 1, 3);
  int equal = 0;
  for (int i = 0; i < 100; ++i) equal += c.next_u32() == d.next_u32();
  EXPECT_LT(equal, 3);
  // Streams of one seed are different keys.
  const PhiloxKey sampler = philox_key(20261204, PhiloxStream::sampler);
  EXPECT_FALSE(sampler.k0 == key.k0 && sampler.k1 == key.k1);
}

TEST(Philox, UniformAndNormalMoments) {
  PhiloxDraws draws(philox_key(99, PhiloxStream::sampler), 0, 0, 0);
  const int n = 200000;
  double sum = 0, sum_sq = 0, normal_sum = 0, normal_sq = 0;
  std::set<std::int64_t> seen;
  for (int i = 0; i < n; ++i) {
    const double u = draws.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sum_sq += u * u;
    const double z = draws.normal();
    normal_sum += z;
    normal_sq += z * z;
    if (i < 1000) seen.insert(draws.between(-3, 3));
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);
  EXPECT_NEAR(sum_sq / n - 0.25, 1.0 / 12, 0.002);
  EXPECT_NEAR(normal_sum / n, 0.0, 0.01);
  EXPECT_NEAR(normal_sq / n, 1.0, 0.01);
  EXPECT_EQ(seen, (std::set<std::int64_t>{-3, -2, -1, 0, 1, 2, 3}));
  // The float normal of the kernels follows the same law.
  double f_sum = 0, f_sq = 0;
  for (std::uint32_t i = 0; i < 50000; ++i) {
    const Philox4 block = philox4x32({i, 0, 0, 0}, philox_key(5, PhiloxStream::augment_noise));
    const float z = philox_normalf(block.v[0], block.v[1]);
    ASSERT_TRUE(std::isfinite(z));
    f_sum += z;
    f_sq += double(z) * z;
  }
  EXPECT_NEAR(f_sum / 50000, 0.0, 0.02);
  EXPECT_NEAR(f_sq / 50000, 1.0, 0.02);
}

}  // namespace
}  // namespace nnuc
