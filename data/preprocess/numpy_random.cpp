#include "data/preprocess/numpy_random.h"

#include <limits>
#include <numeric>

#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

// Smallest 2^k - 1 that is >= value.
std::uint64_t mask_covering(std::uint64_t value) {
  std::uint64_t mask = value;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  return mask;
}

}  // namespace

std::uint64_t NumpyRandomState::next_uint64() {
  const std::uint64_t high = next_uint32();
  const std::uint64_t low = next_uint32();
  return (high << 32) | low;
}

double NumpyRandomState::random_sample() {
  const std::uint32_t a = next_uint32() >> 5;
  const std::uint32_t b = next_uint32() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

std::uint64_t NumpyRandomState::random_interval(std::uint64_t max) {
  if (max == 0) return 0;
  const std::uint64_t mask = mask_covering(max);
  std::uint64_t value;
  if (max <= 0xffffffffULL) {
    while ((value = (next_uint32() & mask)) > max) {
    }
  } else {
    while ((value = (next_uint64() & mask)) > max) {
    }
  }
  return value;
}

std::vector<std::int64_t> NumpyRandomState::randint(std::int64_t low, std::int64_t high, std::size_t count) {
  NNUC_CHECK(low < high, "randint: low (", low, ") must be below high (", high, ")");
  // numpy draws on the closed interval [low, high - 1]: range = high - 1 - low, offset = low.
  const std::uint64_t range = static_cast<std::uint64_t>(high - 1) - static_cast<std::uint64_t>(low);
  const std::uint64_t offset = static_cast<std::uint64_t>(low);
  std::vector<std::int64_t> out(count);
  if (range == 0) {
    for (auto& value : out) value = low;
    return out;
  }
  if (range <= 0xffffffffULL) {
    const std::uint32_t range32 = static_cast<std::uint32_t>(range);
    if (range32 == 0xffffffffU) {
      for (auto& value : out) value = static_cast<std::int64_t>(offset + next_uint32());
      return out;
    }
    const std::uint32_t mask = static_cast<std::uint32_t>(mask_covering(range));
    for (auto& value : out) {
      std::uint32_t draw;
      while ((draw = (next_uint32() & mask)) > range32) {
      }
      value = static_cast<std::int64_t>(offset + draw);
    }
    return out;
  }
  if (range == std::numeric_limits<std::uint64_t>::max()) {
    for (auto& value : out) value = static_cast<std::int64_t>(offset + next_uint64());
    return out;
  }
  const std::uint64_t mask = mask_covering(range);
  for (auto& value : out) {
    std::uint64_t draw;
    while ((draw = (next_uint64() & mask)) > range) {
    }
    value = static_cast<std::int64_t>(offset + draw);
  }
  return out;
}

std::vector<std::int64_t> NumpyRandomState::choice_with_replacement(std::int64_t population, std::size_t count) {
  NNUC_CHECK(population >= 1, "choice: the population must not be empty, got ", population);
  return randint(0, population, count);
}

template <typename Index>
std::vector<std::int64_t> NumpyRandomState::shuffled_prefix(std::int64_t population, std::int64_t count) {
  std::vector<Index> items(static_cast<std::size_t>(population));
  std::iota(items.begin(), items.end(), Index{0});
  for (std::int64_t i = population - 1; i >= 1; --i) {
    const auto j = static_cast<std::size_t>(random_interval(static_cast<std::uint64_t>(i)));
    std::swap(items[static_cast<std::size_t>(i)], items[j]);
  }
  return std::vector<std::int64_t>(items.begin(), items.begin() + count);
}

std::vector<std::int64_t> NumpyRandomState::choice_without_replacement(std::int64_t population, std::int64_t count) {
  NNUC_CHECK(population >= 0 && count >= 0 && count <= population, "choice without replacement: cannot take ", count,
             " items from a population of ", population);
  if (population == 0) return {};
  // The whole permutation is drawn (numpy does), so the generator advances exactly as numpy's does.
  if (population <= static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max()))
    return shuffled_prefix<std::uint32_t>(population, count);
  return shuffled_prefix<std::uint64_t>(population, count);
}

}  // namespace nnuc::data
