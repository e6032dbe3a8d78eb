// numpy's legacy RandomState, bit for bit: what nnU-Net's fixed-seed sampling draws.
//
// nnU-Net seeds np.random.RandomState(1234) per case for the fingerprint's foreground intensity
// samples (choice with replacement, nnunet_method.md §2.2) and for the class locations used by
// foreground oversampling (choice without replacement, §4.4). RandomState is numpy's frozen legacy
// generator, so these draws are the same in every numpy version:
//   - the bit generator is MT19937 seeded with init_genrand(seed) (Matsumoto–Nishimura reference
//     seeding; std::mt19937 seeds and generates identically);
//   - next_uint64 = (first 32-bit draw << 32) | second 32-bit draw;
//   - randint(low, high, size) with the default int64 dtype draws each value in [0, high - low - 1]
//     by masked rejection: mask = smallest 2^k - 1 >= range; draw 32-bit words (64-bit words when the
//     range exceeds 2^32 - 1) and AND them with the mask until the result is <= range;
//   - choice(n, size, replace=True) = randint(0, n, size);
//   - choice(n, size, replace=False) = permutation(n)[:size], and permutation(n) shuffles arange(n)
//     with Fisher–Yates from the end: for i = n-1 .. 1, j = random_interval(i), swap(x[i], x[j]);
//     random_interval(max) is the same masked rejection (32-bit words while max <= 2^32 - 1).
// tests/data/fixtures/numpy_random_vectors.json (written by gen_numpy_fixtures.py with numpy) pins
// all of this.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace nnuc::data {

class NumpyRandomState {
 public:
  // np.random.RandomState(seed) for a seed in [0, 2^32).
  explicit NumpyRandomState(std::uint32_t seed) : engine_(seed) {}

  std::uint32_t next_uint32() { return static_cast<std::uint32_t>(engine_()); }
  std::uint64_t next_uint64();
  // random_sample(): 53-bit double in [0, 1) from two 32-bit words ((a >> 5) * 2^26 + (b >> 6)) / 2^53.
  double random_sample();

  // A value in [0, max] by masked rejection (numpy's random_interval, used by shuffle).
  std::uint64_t random_interval(std::uint64_t max);
  // randint(low, high, size=count) with the default int64 dtype.
  // requires: low < high.
  std::vector<std::int64_t> randint(std::int64_t low, std::int64_t high, std::size_t count);
  // choice(population, count, replace=True): indices into a population of `population` items.
  // requires: population >= 1.
  std::vector<std::int64_t> choice_with_replacement(std::int64_t population, std::size_t count);
  // choice(population, count, replace=False) = permutation(population)[:count].
  // requires: 0 <= count <= population. Memory: 4 bytes per population item (8 above 2^32 - 1).
  std::vector<std::int64_t> choice_without_replacement(std::int64_t population, std::int64_t count);

 private:
  template <typename Index>
  std::vector<std::int64_t> shuffled_prefix(std::int64_t population, std::int64_t count);

  std::mt19937 engine_;
};

}  // namespace nnuc::data
