// Evaluation (data/evaluation): counts on hand-built and random label maps against a brute-force
// reference, the ignore label, regions, NaN, numpy's nanmean, Python's JSON, and summary.json byte
// for byte against nnunetv2's own compute_metrics_on_folder on the committed fixture
// (tests/data/fixtures/gen_evaluation_fixtures.py; this test reads only its outputs).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>

#include "data/dataset/atomic_file.h"
#include "data/evaluation/metrics.h"
#include "data/evaluation/python_json.h"
#include "tests/data/evaluation_fixture.h"

namespace nnuc::data {
namespace {

using namespace nnuc::testing::evaluation;
using Json = nlohmann::ordered_json;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Brute force: one pass per item, voxel by voxel, straight from the definitions.
std::vector<RegionCounts> brute_force_counts(const std::vector<std::int16_t>& ref,
                                             const std::vector<std::int16_t>& pred,
                                             const std::vector<LabelOrRegion>& items, std::optional<int> ignore) {
  std::vector<RegionCounts> out;
  for (const LabelOrRegion& item : items) {
    RegionCounts c;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      if (ignore && ref[i] == *ignore) continue;
      bool in_ref = false, in_pred = false;
      for (int label : item.labels) {
        in_ref = in_ref || ref[i] == label;
        in_pred = in_pred || pred[i] == label;
      }
      if (in_ref && in_pred) c.tp += 1;
      if (!in_ref && in_pred) c.fp += 1;
      if (in_ref && !in_pred) c.fn += 1;
      if (!in_ref && !in_pred) c.tn += 1;
    }
    out.push_back(c);
  }
  return out;
}

// Replaces "<prefix>/" in every path of a summary (the fixture holds paths relative to its folder).
void strip_paths(Json& summary, const std::string& prefix) {
  for (Json& entry : summary["metric_per_case"])
    for (const char* key : {"prediction_file", "reference_file"}) {
      std::string path = entry[key].get<std::string>();
      ASSERT_EQ(path.rfind(prefix + "/", 0), 0u) << path;
      entry[key] = path.substr(prefix.size() + 1);
    }
}

void expect_counts(const RegionCounts& got, const RegionCounts& want) {
  EXPECT_EQ(got.tp, want.tp);
  EXPECT_EQ(got.fp, want.fp);
  EXPECT_EQ(got.fn, want.fn);
  EXPECT_EQ(got.tn, want.tn);
}

TEST(Evaluation, KeysFollowPythonStr) {
  EXPECT_EQ((LabelOrRegion{{3}, false}).key(), "3");
  EXPECT_EQ((LabelOrRegion{{1, 2, 3}, true}).key(), "(1, 2, 3)");
  EXPECT_EQ((LabelOrRegion{{2}, true}).key(), "(2,)");
  for (const LabelOrRegion& item : {LabelOrRegion{{7}, false}, LabelOrRegion{{1, 2}, true}, LabelOrRegion{{4}, true}})
    EXPECT_EQ(label_or_region_from_key(item.key()), item);
  EXPECT_ERROR_MENTIONS(label_or_region_from_key("(1, x)"), "(1, x)");
  EXPECT_ERROR_MENTIONS(labels_from_list({1, 2, 1}), "label 1 is listed twice");
}

TEST(Evaluation, ItemsFromDatasetJson) {
  const DatasetJson labels = parse_dataset_json(
      R"({"channel_names": {"0": "CT"}, "labels": {"background": 0, "b": 2, "a": 1, "ignore": 3},
          "numTraining": 1, "file_ending": ".nii.gz"})",
      "labels.json");
  EXPECT_EQ(labels_or_regions_from_dataset(labels), (std::vector<LabelOrRegion>{{{1}, false}, {{2}, false}}));
  const DatasetJson regions = parse_dataset_json(
      R"({"channel_names": {"0": "T2"}, "labels": {"background": 0, "whole": [1, 2, 3], "core": [2, 3], "enh": [3],
          "edema": 1}, "regions_class_order": [1, 2, 3, 1], "numTraining": 1, "file_ending": ".nii.gz"})",
      "regions.json");
  const std::vector<LabelOrRegion> items = labels_or_regions_from_dataset(regions);
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].key(), "(1, 2, 3)");
  EXPECT_EQ(items[1].key(), "(2, 3)");
  EXPECT_EQ(items[2].key(), "(3,)");
  EXPECT_EQ(items[3].key(), "1");
}

TEST(Evaluation, HandCountedSmallMap) {
  // (1, 3, 4): reference row by row, prediction below it.
  const Tensor ref = testing::evaluation::label_map({1, 3, 4}, {0, 1, 1, 2,  //
                                                                1, 1, 2, 2,  //
                                                                0, 0, 3, 3});
  const Tensor pred = testing::evaluation::label_map({1, 3, 4}, {1, 1, 0, 2,  //
                                                                 1, 2, 2, 2,  //
                                                                 0, 1, 1, 0});
  const std::vector<LabelOrRegion> items = {{{1}, false}, {{2}, false}, {{1, 2}, true}};
  // Label 1: ref at 1,2,4,5; pred at 0,1,4,9,10 -> TP 2 (1,4), FP 3 (0,9,10), FN 2 (2,5), TN 5.
  // Label 2: ref at 3,6,7; pred at 3,5,6,7 -> TP 3, FP 1, FN 0, TN 8.
  // Region {1,2}: ref at 1..7; pred at 0,1,3,4,5,6,7,9,10 -> TP 6, FP 3, FN 1 (2), TN 2 (8, 11).
  std::vector<RegionCounts> counts = count_case(ref, pred, items, std::nullopt);
  ASSERT_EQ(counts.size(), 3u);
  expect_counts(counts[0], {2, 3, 2, 5});
  expect_counts(counts[1], {3, 1, 0, 8});
  expect_counts(counts[2], {6, 3, 1, 2});
  // Ignore label 3 (reference voxels 10, 11): label 1 and the region lose FP 10 and TN 11, label 2 TN 10, 11.
  counts = count_case(ref, pred, items, 3);
  expect_counts(counts[0], {2, 2, 2, 4});
  expect_counts(counts[1], {3, 1, 0, 6});
  expect_counts(counts[2], {6, 2, 1, 1});

  const Json entry = case_metrics_json(counts, items, "r.nii.gz", "p.nii.gz");
  const Json& one = entry["metrics"]["1"];
  EXPECT_DOUBLE_EQ(one["Dice"].get<double>(), 4.0 / 8.0);
  EXPECT_DOUBLE_EQ(one["IoU"].get<double>(), 2.0 / 6.0);
  EXPECT_TRUE(one["TP"].is_number_integer());
  EXPECT_EQ(one["n_pred"].get<int>(), 4);
  EXPECT_EQ(one["n_ref"].get<int>(), 4);
  EXPECT_EQ(entry["metrics"].begin().key(), "(1, 2)");  // sorted as strings: "(" < "1"
}

TEST(Evaluation, RandomMapsMatchBruteForce) {
  std::uniform_int_distribution<int> extent(1, 17), classes(2, 6);
  for (int trial = 0; trial < 20; ++trial) {
    const std::array<std::int64_t, 3> shape = {extent(testing::rng()), extent(testing::rng()), extent(testing::rng())};
    const int k = classes(testing::rng());
    const Tensor ref = testing::random_labels(Shape({shape[0], shape[1], shape[2]}), DType::i16, k);
    const Tensor pred = testing::random_labels(Shape({shape[0], shape[1], shape[2]}), DType::i16, k);
    std::vector<LabelOrRegion> items;
    for (int label = 1; label < k + 1; ++label) items.push_back({{label}, false});  // label k never occurs
    items.push_back({{1, k - 1}, true});
    items.push_back({{0}, false});
    const std::optional<int> ignore = trial % 2 ? std::optional<int>(k - 1) : std::nullopt;
    const std::vector<RegionCounts> got = count_case(ref, pred, items, ignore);
    const std::vector<RegionCounts> want =
        brute_force_counts(ref.to_vector<std::int16_t>(), pred.to_vector<std::int16_t>(), items, ignore);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE("trial " + std::to_string(trial) + " item " + items[i].key());
      expect_counts(got[i], want[i]);
    }
    EXPECT_EQ(got[items.size() - 3].tp + got[items.size() - 3].fp + got[items.size() - 3].fn, 0);  // label k
  }
}

TEST(Evaluation, NanWhereNothingToCompareAndNanmeanOverCases) {
  const std::vector<LabelOrRegion> items = {{{1}, false}, {{2}, false}};
  std::vector<Json> cases;
  cases.push_back(case_metrics_json({{4, 0, 0, 10}, {0, 0, 0, 14}}, items, "r0", "p0"));  // label 2 absent: NaN
  cases.push_back(case_metrics_json({{1, 1, 2, 10}, {0, 0, 0, 14}}, items, "r1", "p1"));
  EXPECT_TRUE(std::isnan(cases[0]["metrics"]["2"]["Dice"].get<double>()));
  EXPECT_TRUE(std::isnan(cases[0]["metrics"]["2"]["IoU"].get<double>()));
  const Json summary = summarize_cases(cases, items);
  EXPECT_DOUBLE_EQ(summary["mean"]["1"]["Dice"].get<double>(), (1.0 + 2.0 / 5.0) / 2.0);
  EXPECT_DOUBLE_EQ(summary["mean"]["1"]["TP"].get<double>(), 2.5);
  EXPECT_TRUE(std::isnan(summary["mean"]["2"]["Dice"].get<double>()));        // NaN in every case
  EXPECT_TRUE(std::isnan(summary["foreground_mean"]["Dice"].get<double>()));  // and it propagates
  EXPECT_DOUBLE_EQ(summary["foreground_mean"]["TN"].get<double>(), (10 + 14) / 2.0);
  // Label 0 is left out of the foreground mean, as nnU-Net's `k == 0` check does.
  const std::vector<LabelOrRegion> with_zero = {{{0}, false}, {{1}, false}};
  const Json zero = summarize_cases({case_metrics_json({{3, 0, 0, 1}, {1, 1, 0, 2}}, with_zero, "r", "p")}, with_zero);
  EXPECT_DOUBLE_EQ(foreground_mean_dice(zero), 2.0 / 3.0);
}

TEST(Evaluation, MeansAreNumpyExact) {
  // np.nanmean / np.mean over up to 300 values (numpy's pairwise summation), from nanmean_vectors.json.
  const Json vectors = read_python_json_file((fixture_dir() / "nanmean_vectors.json").string());
  const std::vector<LabelOrRegion> items = {{{1}, false}};
  for (const Json& vector : vectors) {
    std::vector<Json> cases, filled_cases;
    for (const Json& value : vector["values"]) {
      Json entry = case_metrics_json({{1, 0, 0, 0}}, items, "r", "p");
      entry["metrics"]["1"]["Dice"] = value.get<double>();
      cases.push_back(entry);
      entry["metrics"]["1"]["Dice"] = std::isnan(value.get<double>()) ? 0.25 : value.get<double>();
      filled_cases.push_back(entry);
    }
    EXPECT_EQ(mean_dice(summarize_cases(cases, items), "1"), vector["nanmean"].get<double>())
        << vector["values"].size() << " values";
    EXPECT_EQ(mean_dice(summarize_cases(filled_cases, items), "1"), vector["filled_with_0.25_mean"].get<double>())
        << vector["values"].size() << " values";
  }
}

TEST(Evaluation, PythonFloatRepr) {
  // Expected strings are Python 3.11's repr of the same doubles.
  const std::vector<std::pair<double, std::string>> cases = {{0.1, "0.1"},
                                                             {1.0, "1.0"},
                                                             {2.5, "2.5"},
                                                             {-0.0, "-0.0"},
                                                             {1e-05, "1e-05"},
                                                             {0.0001, "0.0001"},
                                                             {1.5e-05, "1.5e-05"},
                                                             {1e16, "1e+16"},
                                                             {1e15, "1000000000000000.0"},
                                                             {123456.75, "123456.75"},
                                                             {1.2345678901234567e+17, "1.2345678901234566e+17"},
                                                             {5e-324, "5e-324"},
                                                             {1.7976931348623157e308, "1.7976931348623157e+308"},
                                                             {178.33333333333331, "178.33333333333331"},
                                                             {2419.0, "2419.0"},
                                                             {std::numeric_limits<double>::infinity(), "Infinity"},
                                                             {-std::numeric_limits<double>::infinity(), "-Infinity"},
                                                             {kNaN, "NaN"}};
  for (const auto& [value, text] : cases) EXPECT_EQ(python_float_repr(value), text);
  // Random doubles of every magnitude read back exactly.
  std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
  std::uniform_int_distribution<int> exponent(-1074, 1023);  // binary exponents
  for (int i = 0; i < 2000; ++i) {
    const double value = std::ldexp(mantissa(testing::rng()), exponent(testing::rng()));
    if (!std::isfinite(value)) continue;
    EXPECT_EQ(std::strtod(python_float_repr(value).c_str(), nullptr), value) << python_float_repr(value);
  }
  const Json document = parse_python_json(R"({"b": [NaN, -Infinity, Infinity, 1, 2.0, "NaN"], "a": {}, "c": []})", "x");
  EXPECT_TRUE(std::isnan(document["b"][0].get<double>()));
  EXPECT_EQ(document["b"][1].get<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(document["b"][5].get<std::string>(), "NaN");  // a string stays a string
  EXPECT_EQ(dump_python_json(document),
            "{\n    \"a\": {},\n    \"b\": [\n        NaN,\n        -Infinity,\n        Infinity,\n        1,\n"
            "        2.0,\n        \"NaN\"\n    ],\n    \"c\": []\n}");
  EXPECT_EQ(dump_python_json(Json("caf\xc3\xa9 \xf0\x9f\x98\x80")), "\"caf\\u00e9 \\ud83d\\ude00\"");  // ensure_ascii
  EXPECT_ERROR_MENTIONS(parse_python_json("{\"a\": NaNa}", "broken.json"), "broken.json");
}

// summary.json byte for byte as nnunetv2 wrote it for the same 3 cases: labels [1, 2] with ignore
// label 3, and regions [(1, 2), (2,), 4] (4 absent everywhere: NaN means, NaN foreground mean).
TEST(Evaluation, SummaryJsonEqualsNnunetBytes) {
  const std::string root = fixture_dir().string();
  for (const bool regions : {false, true}) {
    const std::vector<LabelOrRegion> items = regions
                                                 ? std::vector<LabelOrRegion>{{{1, 2}, true}, {{2}, true}, {{4}, false}}
                                                 : std::vector<LabelOrRegion>{{{1}, false}, {{2}, false}};
    const std::optional<int> ignore = regions ? std::nullopt : std::optional<int>(3);
    const std::string expected_file = root + (regions ? "/summary_regions.json" : "/summary_labels.json");
    for (const int threads : {1, 3}) {
      Json summary = evaluate_folders(root + "/ref", root + "/pred", items, ignore, ".nii.gz", threads, false);
      strip_paths(summary, root);
      EXPECT_EQ(dump_python_json(summary), read_file_text(expected_file)) << expected_file << ", " << threads;
    }
    // nnuc reads nnU-Net's file back (NaN included) and writes the same bytes.
    TempFolder folder("nnuc_eval_roundtrip");
    write_summary(folder.file("summary.json"), read_summary(expected_file));
    EXPECT_EQ(read_file_text(folder.file("summary.json")), read_file_text(expected_file));
  }
}

TEST(Evaluation, FolderErrorsNameTheFolderAndCase) {
  TempFolder folder("nnuc_eval_errors");
  fs::create_directories(folder.file("ref"));
  fs::create_directories(folder.file("pred"));
  const std::vector<LabelOrRegion> items = {{{1}, false}};
  const Tensor a = testing::random_labels(Shape({3, 4, 5}), DType::i16, 3);
  write_case(folder.file("ref/a.nii.gz"), a);
  write_case(folder.file("ref/b.nii.gz"), a);
  const auto evaluate = [&](bool chill) {
    return evaluate_folders(folder.file("ref"), folder.file("pred"), items, std::nullopt, ".nii.gz", 2, chill);
  };
  EXPECT_ERROR_MENTIONS(evaluate(false), "holds no case");
  EXPECT_ERROR_MENTIONS(
      evaluate_folders(folder.file("ref"), folder.file("missing"), items, std::nullopt, ".nii.gz", 2, false),
      folder.file("missing"));
  write_case(folder.file("pred/a.nii.gz"), a);
  EXPECT_ERROR_MENTIONS(evaluate(false), "b.nii.gz");  // a reference without prediction
  EXPECT_EQ(evaluate(true)["metric_per_case"].size(), 1u);
  write_case(folder.file("pred/c.nii.gz"), a);  // a prediction without reference
  EXPECT_ERROR_MENTIONS(evaluate(true), folder.file("ref/c.nii.gz"));
  fs::remove(folder.file("pred/c.nii.gz"));
  write_case(folder.file("pred/b.nii.gz"), testing::random_labels(Shape({3, 4, 6}), DType::i16, 3));
  EXPECT_ERROR_MENTIONS(evaluate(false), folder.file("pred/b.nii.gz"));
  EXPECT_ERROR_MENTIONS(evaluate(false), "(3, 4, 6)");
  data::write_nifti_label(
      folder.file("pred/b.nii.gz"), a,
      data::make_nifti_geometry({3, 4, 5}, {3.0, 2.0, 1.0}, {-10.5, 20.25, 3.0}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}));
  EXPECT_ERROR_MENTIONS(evaluate(false), "does not lie on the grid");
  write_file_atomic(folder.file("pred/b.nii.gz"), std::string("not a nifti file"));
  EXPECT_NE(any_error_of([&] { evaluate(false); }).find(folder.file("pred/b.nii.gz")), std::string::npos);
}

TEST(Evaluation, WrittenSummaryRoundTripsAndListsSortedCases) {
  TempFolder folder("nnuc_eval_write");
  fs::create_directories(folder.file("ref"));
  fs::create_directories(folder.file("pred"));
  for (const char* name : {"z.nii.gz", "a.nii.gz", "m.nii.gz"}) {
    const Tensor labels = testing::random_labels(Shape({4, 5, 6}), DType::i16, 3);
    write_case(folder.file(std::string("ref/") + name), labels);
    write_case(folder.file(std::string("pred/") + name), testing::random_labels(Shape({4, 5, 6}), DType::i16, 3));
  }
  write_file_atomic(folder.file("pred/notes.txt"), std::string("not a case"));
  const std::vector<LabelOrRegion> items = {{{1}, false}, {{2}, false}, {{1, 2}, true}};
  const Json summary =
      evaluate_folders(folder.file("ref"), folder.file("pred/"), items, std::nullopt, ".nii.gz", 0, false);
  ASSERT_EQ(summary["metric_per_case"].size(), 3u);
  EXPECT_EQ(summary["metric_per_case"][0]["prediction_file"].get<std::string>(), folder.file("pred/a.nii.gz"));
  EXPECT_EQ(summary["metric_per_case"][2]["reference_file"].get<std::string>(), folder.file("ref/z.nii.gz"));
  write_summary(folder.file("summary.json"), summary);
  const Json back = read_summary(folder.file("summary.json"));
  EXPECT_EQ(dump_python_json(back), dump_python_json(summary));
  EXPECT_EQ(foreground_mean_dice(back), foreground_mean_dice(summary));
}

}  // namespace
}  // namespace nnuc::data
