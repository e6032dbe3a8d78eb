// Dataset fingerprint (nnunet_method.md §2) against nnU-Net's analysis recomputed with numpy
// (tests/data/fixtures/gen_numpy_fixtures.py), and dataset_fingerprint.json.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/preprocess/fingerprint.h"
#include "data/preprocess/numpy_random.h"
#include "kernels/core/error.h"
#include "tests/data/raw_dataset_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;

nlohmann::json fixture() {
  std::ifstream in(fs::path(__FILE__).parent_path() / "fixtures" / "numpy_stats_vectors.json");
  return nlohmann::json::parse(in).at("fingerprint");
}

// gen_numpy_fixtures.make_case: channels of generated intensities inside a box, labels 0..3 inside a
// smaller box.
LoadedCase make_case(std::uint32_t seed, const Shape3& shape, int channels) {
  const std::int64_t n = shape[0] * shape[1] * shape[2];
  LoadedCase c;
  c.identifier = "case_" + std::to_string(seed);
  c.spacing = {1.0 + seed % 3, 0.5, 0.75};
  c.image = Tensor::empty_cpu(Shape{channels, shape[0], shape[1], shape[2]}, DType::f32);
  for (int ch = 0; ch < channels; ++ch) {
    NumpyRandomState generator(seed * 10 + static_cast<std::uint32_t>(ch));
    for (std::int64_t i = 0; i < n; ++i) {
      const float value = static_cast<float>(generator.random_sample() * 400.0 + -100.0);
      const std::int64_t a = i / (shape[1] * shape[2]), b = (i / shape[2]) % shape[1], d = i % shape[2];
      const bool in_box = a >= 2 && a < shape[0] - 1 && b >= 3 && b < shape[1] - 2 && d >= 2 && d < shape[2] - 3;
      c.image.data<float>()[ch * n + i] = in_box ? value : 0.0f;
    }
  }
  c.seg = Tensor::empty_cpu(Shape{shape[0], shape[1], shape[2]}, DType::i16);
  NumpyRandomState labels(seed + 1000);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto label = static_cast<std::int16_t>(std::floor(labels.random_sample() * 3.5));
    const std::int64_t a = i / (shape[1] * shape[2]), b = (i / shape[2]) % shape[1], d = i % shape[2];
    const bool inner = a >= 3 && a < shape[0] - 3 && b >= 3 && b < shape[1] - 3 && d >= 3 && d < shape[2] - 3;
    c.seg.data<std::int16_t>()[i] = inner ? label : 0;
  }
  return c;
}

std::vector<LoadedCase> fixture_cases(const nlohmann::json& f) {
  std::vector<LoadedCase> cases;
  for (const auto& c : f["cases"]) {
    const auto shape = c["shape"].get<std::array<std::int64_t, 3>>();
    cases.push_back(make_case(c["seed"].get<std::uint32_t>(), shape, f["channels"].get<int>()));
  }
  return cases;
}

TEST(PreprocessFingerprint, MatchesNnUNetAnalysisRecomputedWithNumpy) {
  const nlohmann::json f = fixture();
  const std::vector<LoadedCase> inputs = fixture_cases(f);
  const std::int64_t per_case = foreground_samples_per_case(inputs.size(), f["total_samples"].get<double>());
  EXPECT_EQ(per_case, 10000);
  std::vector<CaseFingerprint> cases;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    cases.push_back(analyze_case(inputs[i], per_case));
    const CaseFingerprint& c = cases.back();
    EXPECT_EQ(c.shape_after_crop, (f["shapes_after_crop"][i].get<std::array<std::int64_t, 3>>()));
    EXPECT_EQ(c.relative_size_after_cropping, f["relative_sizes"][i].get<double>());
    for (int ch = 0; ch < 2; ++ch) {
      const auto first = f["case_samples"][i]["first"][ch].get<std::vector<double>>();
      const auto last = f["case_samples"][i]["last"][ch].get<std::vector<double>>();
      const std::vector<float>& samples = c.foreground_samples[static_cast<std::size_t>(ch)];
      ASSERT_EQ(samples.size(), 10000u);
      for (std::size_t k = 0; k < first.size(); ++k) EXPECT_EQ(static_cast<double>(samples[k]), first[k]);
      for (std::size_t k = 0; k < last.size(); ++k)
        EXPECT_EQ(static_cast<double>(samples[samples.size() - last.size() + k]), last[k]);
    }
  }
  const DatasetFingerprint fingerprint = summarize_fingerprint(cases);
  EXPECT_EQ(fingerprint.median_relative_size_after_cropping, f["median_relative_size_after_cropping"].get<double>());
  const nlohmann::json json = fingerprint_to_json(fingerprint);
  for (const std::string channel : {"0", "1"}) {
    const auto& expected = f["foreground_intensity_properties_per_channel"][channel];
    const auto& actual = json["foreground_intensity_properties_per_channel"][channel];
    for (const char* key : {"mean", "median", "std", "min", "max", "percentile_00_5", "percentile_99_5"})
      EXPECT_EQ(actual[key].get<double>(), expected[key].get<double>()) << channel << " " << key;
  }
}

TEST(PreprocessFingerprint, JsonHasNnUNetKeysAndRoundTripsThroughAnAtomicWrite) {
  const nlohmann::json f = fixture();
  const std::vector<LoadedCase> inputs = fixture_cases(f);
  RunOptions run;
  run.workers = 2;
  std::vector<std::size_t> progress;
  run.progress = [&](const ProgressUpdate& update) { progress.push_back(update.done); };
  const DatasetFingerprint parallel = extract_fingerprint(
      inputs.size(), [&](std::size_t i) { return inputs[i]; }, run, 30000);
  EXPECT_EQ(progress, (std::vector<std::size_t>{1, 2, 3}));
  const nlohmann::json json = fingerprint_to_json(parallel);
  std::vector<std::string> keys;
  for (const auto& item : json.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"foreground_intensity_properties_per_channel",
                                            "median_relative_size_after_cropping", "shapes_after_crop", "spacings"}));
  std::vector<std::string> stat_keys;
  for (const auto& item : json["foreground_intensity_properties_per_channel"]["0"].items())
    stat_keys.push_back(item.key());
  EXPECT_EQ(stat_keys,
            (std::vector<std::string>{"max", "mean", "median", "min", "percentile_00_5", "percentile_99_5", "std"}));
  EXPECT_EQ(json["spacings"][1], (nlohmann::json{1.0 + 12 % 3, 0.5, 0.75}));
  EXPECT_EQ(json["shapes_after_crop"], f["shapes_after_crop"]);
  EXPECT_EQ(json["foreground_intensity_properties_per_channel"], f["foreground_intensity_properties_per_channel"]);

  const fs::path folder = fs::temp_directory_path() / ("nnuc_fingerprint_" + std::to_string(testing::rng()()));
  fs::create_directories(folder);
  const std::string path = (folder / "dataset_fingerprint.json").string();
  write_fingerprint(path, parallel);
  EXPECT_EQ(std::distance(fs::directory_iterator(folder), fs::directory_iterator{}), 1);  // no temp file left
  const DatasetFingerprint back = read_fingerprint(path);
  EXPECT_EQ(fingerprint_to_json(back), json);
  std::ifstream in(path);
  EXPECT_EQ(nlohmann::json::parse(in), json);
  {
    std::ofstream broken(path);
    broken
        << R"({"spacings": [[1, 1, 1]], "shapes_after_crop": [[2, 2, 2]], "median_relative_size_after_cropping": 1})";
  }
  try {
    read_fingerprint(path);
    ADD_FAILURE() << "a fingerprint without intensity properties was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("foreground_intensity_properties_per_channel"), std::string::npos) << e.what();
  }
  fs::remove_all(folder);
}

TEST(PreprocessFingerprint, CasesWithoutForegroundContributeNoSamplesAndAFailingCaseIsNamed) {
  LoadedCase empty = make_case(21, {10, 11, 12}, 1);
  std::fill_n(empty.seg.data<std::int16_t>(), empty.seg.numel(), std::int16_t{0});
  const CaseFingerprint c = analyze_case(empty, 50);
  ASSERT_EQ(c.foreground_samples.size(), 1u);
  EXPECT_TRUE(c.foreground_samples[0].empty());
  EXPECT_THROW(summarize_fingerprint({c}), InvalidInput);
  // Ignore-label values (> 0) count as foreground, -1 does not.
  LoadedCase labeled = make_case(22, {10, 11, 12}, 1);
  const CaseFingerprint d = analyze_case(labeled, 64);
  EXPECT_EQ(d.foreground_samples[0].size(), 64u);
  for (float v : d.foreground_samples[0]) EXPECT_NE(v, 0.0f);

  std::vector<LoadedCase> inputs{make_case(31, {9, 9, 9}, 1), make_case(32, {9, 9, 9}, 1)};
  inputs[1].seg = Tensor();  // no label map: the fingerprint cannot use it
  try {
    extract_fingerprint(
        inputs.size(), [&](std::size_t i) { return inputs[i]; }, RunOptions{2, 1, {}, {}}, 100);
    ADD_FAILURE() << "missing label map accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("case 'case_32'"), std::string::npos) << e.what();
  }
}

// The one dataset_fingerprint.json reader: malformed documents name the file, the field and the value.
nlohmann::json valid_fingerprint_json() {
  return nlohmann::json::parse(R"({"foreground_intensity_properties_per_channel": {"0": {"max": 9.0, "mean": 1.5,
      "median": 1.0, "min": -2.0, "percentile_00_5": -1.5, "percentile_99_5": 8.0, "std": 2.0}},
      "median_relative_size_after_cropping": 0.9, "shapes_after_crop": [[20, 320, 320], [18, 300, 310]],
      "spacings": [[3.6, 0.625, 0.625], [3.0, 0.6, 0.6]]})");
}

void expect_invalid(const nlohmann::json& document, const std::string& file, const std::vector<std::string>& parts) {
  try {
    fingerprint_from_json(document, file);
    ADD_FAILURE() << "accepted " << document.dump();
  } catch (const InvalidInput& e) {
    const std::string message = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

TEST(PreprocessFingerprint, ReadsNnUNetDocumentsAndNamesFileFieldAndValueOfMalformedOnes) {
  const std::string file = "/pre/Dataset123_X/dataset_fingerprint.json";
  const DatasetFingerprint f = fingerprint_from_json(valid_fingerprint_json(), file);
  ASSERT_EQ(f.spacings.size(), 2u);
  EXPECT_EQ(f.spacings[1], (Spacing3{3.0, 0.6, 0.6}));
  EXPECT_EQ(f.shapes_after_crop[0], (Shape3{20, 320, 320}));
  EXPECT_EQ(f.median_relative_size_after_cropping, 0.9);
  ASSERT_EQ(f.foreground_intensity_properties_per_channel.size(), 1u);
  EXPECT_EQ(f.foreground_intensity_properties_per_channel[0].percentile_99_5, 8.0);
  EXPECT_EQ(nlohmann::json(intensity_properties_to_json(f.foreground_intensity_properties_per_channel)),
            valid_fingerprint_json()["foreground_intensity_properties_per_channel"]);

  auto with = [](const std::string& key, const nlohmann::json& value) {
    nlohmann::json document = valid_fingerprint_json();
    document[key] = value;
    return document;
  };
  auto without = [](const std::string& key) {
    nlohmann::json document = valid_fingerprint_json();
    document.erase(key);
    return document;
  };
  expect_invalid(without("spacings"), file, {file, "spacings", "missing"});
  expect_invalid(without("shapes_after_crop"), file, {file, "shapes_after_crop", "missing"});
  expect_invalid(without("median_relative_size_after_cropping"), file, {file, "median_relative_size_after_cropping"});
  expect_invalid(without("foreground_intensity_properties_per_channel"), file, {file, "foreground_intensity"});
  expect_invalid(with("spacings", nlohmann::json::array()), file, {file, "spacings", "[]", "non-empty"});
  expect_invalid(with("spacings", nlohmann::json::parse("[[3.6, 0.625], [3.0, 0.6, 0.6]]")), file,
                 {file, "spacings\"[0]", "[3.6,0.625]", "3 numbers"});
  expect_invalid(with("spacings", nlohmann::json::parse("[[3.6, 0.625, 0.625], [3.0, 0.0, 0.6]]")), file,
                 {file, "spacings\"[1]", "[3.0,0.0,0.6]", "> 0"});
  expect_invalid(with("spacings", nlohmann::json::parse("[[3.6, \"x\", 0.625], [3.0, 0.6, 0.6]]")), file,
                 {file, "spacings\"[0]", "\"x\"", "not a number"});
  expect_invalid(with("shapes_after_crop", nlohmann::json::parse("[[20, 320, 320]]")), file,
                 {file, "shapes_after_crop", "1 entries", "\"spacings\" has 2"});
  expect_invalid(with("shapes_after_crop", nlohmann::json::parse("[[20, 320, 320], [18, 0, 310]]")), file,
                 {file, "shapes_after_crop\"[1]", "[18,0,310]", ">= 1"});
  expect_invalid(with("shapes_after_crop", nlohmann::json::parse("[[20, 320.5, 320], [18, 300, 310]]")), file,
                 {file, "shapes_after_crop\"[0]", "320.5"});
  expect_invalid(with("median_relative_size_after_cropping", "big"), file,
                 {file, "median_relative_size_after_cropping", "\"big\""});
  expect_invalid(with("foreground_intensity_properties_per_channel", 3), file, {file, "foreground_intensity", "3"});
  nlohmann::json no_std = valid_fingerprint_json();
  no_std["foreground_intensity_properties_per_channel"]["0"].erase("std");
  expect_invalid(no_std, file, {file, "\"0\"", "std", "missing"});
  expect_invalid(nlohmann::json::array(), file, {file, "object"});
}

TEST(PreprocessFingerprint, FilesMissingOrNotJsonAreNamed) {
  const testing::TempFolder folder;
  const std::string missing = folder.path() + "/nope.json";
  try {
    read_fingerprint(missing);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  const std::string broken = folder.path() + "/dataset_fingerprint.json";
  std::ofstream(broken) << "{\"spacings\": [[1, 2, 3]";
  try {
    read_fingerprint(broken);
    ADD_FAILURE() << "no error for a file that is not JSON";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(broken), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nnuc::data
