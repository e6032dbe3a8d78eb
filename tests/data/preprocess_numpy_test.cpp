// numpy parity of the legacy RandomState draws and the float32 statistics, against vectors written by
// tests/data/fixtures/gen_numpy_fixtures.py (numpy 2.4).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "data/preprocess/numpy_random.h"
#include "data/preprocess/numpy_stats.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

std::filesystem::path fixtures() { return std::filesystem::path(__FILE__).parent_path() / "fixtures"; }

nlohmann::json load_fixture(const std::string& name) {
  std::ifstream in(fixtures() / name);
  EXPECT_TRUE(in.good()) << "missing fixture " << (fixtures() / name);
  return nlohmann::json::parse(in);
}

// RandomState(seed).random_sample(n) * scale + offset, cast to float32 (the fixtures' inputs).
std::vector<float> generated(std::uint32_t seed, std::size_t n, double scale, double offset) {
  NumpyRandomState generator(seed);
  std::vector<float> values(n);
  for (float& value : values) value = static_cast<float>(generator.random_sample() * scale + offset);
  return values;
}

TEST(PreprocessNumpyRandom, RawWordsMatchNumpyAndStdMt19937) {
  const nlohmann::json fixture = load_fixture("numpy_random_vectors.json");
  NumpyRandomState generator(1234);
  std::mt19937 reference(1234);  // init_genrand seeding: the same stream
  ASSERT_EQ(fixture["raw_uint32_seed1234"].size(), 16u);
  for (const auto& expected : fixture["raw_uint32_seed1234"]) {
    EXPECT_EQ(generator.next_uint32(), expected.get<std::uint32_t>());
    EXPECT_EQ(static_cast<std::uint32_t>(reference()), expected.get<std::uint32_t>());
  }
  NumpyRandomState doubles(1234);
  for (const auto& expected : fixture["random_sample_seed1234"])
    EXPECT_EQ(doubles.random_sample(), expected.get<double>());
}

TEST(PreprocessNumpyRandom, RandintMatchesNumpyForAllRangeClasses) {
  const nlohmann::json fixture = load_fixture("numpy_random_vectors.json");
  ASSERT_GE(fixture["randint"].size(), 10u);
  for (const auto& c : fixture["randint"]) {
    NumpyRandomState generator(c["seed"].get<std::uint32_t>());
    const auto low = c["low"].get<std::int64_t>();
    const auto high = c["high"].get<std::int64_t>();
    const auto expected = c["values"].get<std::vector<std::int64_t>>();
    EXPECT_EQ(generator.randint(low, high, expected.size()), expected) << "randint(" << low << ", " << high << ")";
  }
}

TEST(PreprocessNumpyRandom, ChoiceWithAndWithoutReplacementMatchesNumpy) {
  const nlohmann::json fixture = load_fixture("numpy_random_vectors.json");
  for (const auto& c : fixture["choice_with_replacement"]) {
    NumpyRandomState generator(c["seed"].get<std::uint32_t>());
    const auto expected = c["values"].get<std::vector<std::int64_t>>();
    EXPECT_EQ(generator.choice_with_replacement(c["population"].get<std::int64_t>(), expected.size()), expected);
  }
  for (const auto& c : fixture["choice_without_replacement"]) {
    NumpyRandomState generator(c["seed"].get<std::uint32_t>());
    const auto expected = c["values"].get<std::vector<std::int64_t>>();
    EXPECT_EQ(generator.choice_without_replacement(c["population"].get<std::int64_t>(), c["count"].get<std::int64_t>()),
              expected)
        << "population " << c["population"];
  }
  // One generator consumed class after class.
  NumpyRandomState generator(1234);
  for (const auto& c : fixture["choice_sequence_seed1234"]) {
    const auto expected = c["values"].get<std::vector<std::int64_t>>();
    EXPECT_EQ(generator.choice_without_replacement(c["population"].get<std::int64_t>(), c["count"].get<std::int64_t>()),
              expected);
  }
}

TEST(PreprocessNumpyRandom, ChoiceWithoutReplacementIsDistinctAndInRange) {
  std::uniform_int_distribution<std::int64_t> population_draw(1, 5000);
  for (int trial = 0; trial < 20; ++trial) {
    const std::int64_t population = population_draw(testing::rng());
    const std::int64_t count = std::uniform_int_distribution<std::int64_t>(0, population)(testing::rng());
    NumpyRandomState generator(static_cast<std::uint32_t>(testing::rng()()));
    std::vector<std::int64_t> picks = generator.choice_without_replacement(population, count);
    ASSERT_EQ(static_cast<std::int64_t>(picks.size()), count);
    std::sort(picks.begin(), picks.end());
    EXPECT_TRUE(std::adjacent_find(picks.begin(), picks.end()) == picks.end());
    if (!picks.empty()) {
      EXPECT_TRUE(picks.front() >= 0 && picks.back() < population);
    }
  }
  NumpyRandomState generator(1);
  EXPECT_THROW(generator.choice_without_replacement(3, 4), InvalidInput);
  EXPECT_THROW(generator.randint(5, 5, 1), InvalidInput);
}

TEST(PreprocessNumpyStats, Float32ReductionsMatchNumpyBitForBit) {
  const nlohmann::json fixture = load_fixture("numpy_stats_vectors.json");
  ASSERT_GE(fixture["arrays"].size(), 10u);
  for (const auto& c : fixture["arrays"]) {
    std::vector<float> values = generated(c["seed"].get<std::uint32_t>(), c["n"].get<std::size_t>(),
                                          c["scale"].get<double>(), c["offset"].get<double>());
    SCOPED_TRACE("n = " + std::to_string(values.size()));
    EXPECT_EQ(static_cast<double>(numpy_sum_f32(values.data(), values.size())), c["sum"].get<double>());
    EXPECT_EQ(static_cast<double>(numpy_mean_f32(values.data(), values.size())), c["mean"].get<double>());
    EXPECT_EQ(static_cast<double>(numpy_std_f32(values.data(), values.size())), c["std"].get<double>());
    EXPECT_EQ(static_cast<double>(*std::min_element(values.begin(), values.end())), c["min"].get<double>());
    EXPECT_EQ(static_cast<double>(*std::max_element(values.begin(), values.end())), c["max"].get<double>());
    std::vector<float> scratch = values;
    EXPECT_EQ(static_cast<double>(numpy_median_f32(scratch)), c["median"].get<double>());
    EXPECT_EQ(static_cast<double>(numpy_percentile_f32(scratch, 0.5)), c["percentile_00_5"].get<double>());
    EXPECT_EQ(static_cast<double>(numpy_percentile_f32(scratch, 50.0)), c["percentile_50"].get<double>());
    EXPECT_EQ(static_cast<double>(numpy_percentile_f32(scratch, 99.5)), c["percentile_99_5"].get<double>());
  }
  for (const auto& c : fixture["doubles"]) {
    NumpyRandomState generator(c["seed"].get<std::uint32_t>());
    std::vector<double> values(c["n"].get<std::size_t>());
    for (double& value : values) value = generator.random_sample() * 5.0;
    EXPECT_EQ(numpy_median_f64(values), c["median"].get<double>());
    EXPECT_EQ(numpy_percentile_f64(values, 10.0), c["percentile_10"].get<double>());
    EXPECT_EQ(numpy_percentile_f64(values, 50.0), c["percentile_50"].get<double>());
  }
}

TEST(PreprocessNumpyStats, CloseToDoublePrecisionOnFreshData) {
  const std::size_t n = 20000 + testing::rng()() % 1000;
  std::vector<float> values(n);
  std::normal_distribution<double> draw(300.0, 40.0);
  for (float& value : values) value = static_cast<float>(draw(testing::rng()));
  double sum = 0, squares = 0;
  for (float value : values) sum += value;
  const double mean = sum / static_cast<double>(n);
  for (float value : values) squares += (value - mean) * (value - mean);
  const double std = std::sqrt(squares / static_cast<double>(n));
  EXPECT_NEAR(numpy_mean_f32(values.data(), n), mean, 1e-5 * std::fabs(mean));
  EXPECT_NEAR(numpy_std_f32(values.data(), n), std, 1e-5 * std);
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  const double position = 0.995 * static_cast<double>(n - 1);
  const auto low = static_cast<std::size_t>(position);
  const double expected = sorted[low] + (sorted[low + 1] - sorted[low]) * (position - static_cast<double>(low));
  std::vector<float> scratch = values;
  EXPECT_NEAR(numpy_percentile_f32(scratch, 99.5), expected, 1e-4 * std::fabs(expected));
  EXPECT_THROW(numpy_percentile_f32(scratch, 101.0), InvalidInput);
}

}  // namespace
}  // namespace nnuc::data
