// dataset.json model and parser: valid documents, LabelManager rules, and errors that name the field.
#include "data/dataset/dataset_json.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

std::vector<std::string> codes_of(const DatasetJsonParse& parsed, Severity severity = Severity::error) {
  std::vector<std::string> codes;
  for (const Problem& p : parsed.problems) {
    if (p.severity == severity) codes.push_back(p.code);
  }
  return codes;
}

bool has_problem(const DatasetJsonParse& parsed, const std::string& code, const std::string& field) {
  return std::any_of(parsed.problems.begin(), parsed.problems.end(),
                     [&](const Problem& p) { return p.code == code && p.field == field; });
}

TEST(DatasetJson, ParsesTheNnunetExample) {
  const std::string text = R"({"channel_names": {"1": "ADC", "0": "T2"},
    "labels": {"background": 0, "PZ": 1, "TZ": 2}, "numTraining": 32, "file_ending": ".nii.gz",
    "overwrite_image_reader_writer": "SimpleITKIO", "name": "Prostate", "licence": "CC-BY-SA 4.0"})";
  DatasetJsonParse parsed = parse_dataset_json_collect(text, "dataset.json");
  ASSERT_TRUE(parsed.json.has_value());
  EXPECT_TRUE(parsed.problems.empty()) << problem_to_string(parsed.problems.front());
  const DatasetJson& json = *parsed.json;
  EXPECT_EQ(json.channel_names, (std::vector<std::string>{"T2", "ADC"}));  // by index, not file order
  EXPECT_EQ(json.num_training, 32);
  EXPECT_EQ(json.file_ending, ".nii.gz");
  EXPECT_FALSE(json.has_regions());
  EXPECT_FALSE(json.ignore_label().has_value());
  EXPECT_EQ(json.all_labels(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(json.num_segmentation_heads(), 3);
  EXPECT_EQ(json.other["name"], "Prostate");
  EXPECT_EQ(json.other["licence"], "CC-BY-SA 4.0");
}

TEST(DatasetJson, LegacyModalityIsAccepted) {
  DatasetJson json = parse_dataset_json(
      R"({"modality": {"0": "CT"}, "labels": {"background": 0, "liver": 1}, "numTraining": 3, "file_ending": ".nii"})",
      "x");
  EXPECT_TRUE(json.legacy_modality);
  EXPECT_EQ(json.channel_names, std::vector<std::string>{"CT"});
}

TEST(DatasetJson, RegionsAndIgnoreLabelFollowLabelManager) {
  // BraTS-style regions: order of regions is the file order; ignore is max + 1.
  DatasetJson json = parse_dataset_json(R"({"channel_names": {"0": "FLAIR"},
      "labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing": 3, "ignore": 4},
      "regions_class_order": [1, 2, 3], "numTraining": 5, "file_ending": ".nii.gz"})",
                                        "x");
  EXPECT_TRUE(json.has_regions());
  EXPECT_EQ(json.ignore_label(), 4);
  EXPECT_EQ(json.all_labels(), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(json.allowed_label_values(), (std::vector<int>{0, 1, 2, 3, 4}));
  const std::vector<std::vector<int>> regions = json.foreground_regions();
  ASSERT_EQ(regions.size(), 3u);
  EXPECT_EQ(regions[0], (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(regions[1], (std::vector<int>{2, 3}));
  EXPECT_EQ(regions[2], (std::vector<int>{3}));
  EXPECT_EQ(json.num_segmentation_heads(), 3);
}

TEST(DatasetJson, EveryMissingRequiredKeyIsReported) {
  DatasetJsonParse parsed = parse_dataset_json_collect(R"({"name": "x"})", "/d/dataset.json");
  ASSERT_TRUE(parsed.json.has_value());
  for (const char* field : {"channel_names", "labels", "numTraining", "file_ending"}) {
    EXPECT_TRUE(has_problem(parsed, "json_missing_key", field)) << field;
  }
  for (const Problem& p : parsed.problems) EXPECT_EQ(p.path, "/d/dataset.json");
}

TEST(DatasetJson, BadValuesNameFieldValueAndExpectation) {
  DatasetJsonParse parsed = parse_dataset_json_collect(R"({"channel_names": {"0": "CT", "x": "T2"},
      "labels": {"background": 0, "a": "one", "b": [1, 2.5]}, "numTraining": -3, "file_ending": "nii"})",
                                                       "d.json");
  EXPECT_TRUE(has_problem(parsed, "json_bad_value", "channel_names.x"));
  EXPECT_TRUE(has_problem(parsed, "json_bad_value", "labels.a"));
  EXPECT_TRUE(has_problem(parsed, "json_bad_value", "labels.b"));
  EXPECT_TRUE(has_problem(parsed, "json_bad_value", "numTraining"));
  EXPECT_TRUE(has_problem(parsed, "json_bad_value", "file_ending"));
  for (const Problem& p : parsed.problems) {
    if (p.field == "numTraining") {
      EXPECT_NE(p.message.find("-3"), std::string::npos) << p.message;
      EXPECT_NE(p.message.find("non-negative integer"), std::string::npos) << p.message;
    }
    if (p.field == "labels.a") {
      EXPECT_NE(p.message.find("\"one\""), std::string::npos) << p.message;
    }
  }
  EXPECT_FALSE(parsed.labels_ok);
  EXPECT_FALSE(parsed.channels_ok);
  EXPECT_FALSE(parsed.num_training_ok);
  EXPECT_FALSE(parsed.file_ending_ok);
}

TEST(DatasetJson, LabelRules) {
  auto parse_labels = [](const std::string& labels, const std::string& extra = "") {
    return parse_dataset_json_collect(R"({"channel_names": {"0": "CT"}, "labels": )" + labels + extra +
                                          R"(, "numTraining": 1, "file_ending": ".nii.gz"})",
                                      "d.json");
  };
  EXPECT_TRUE(has_problem(parse_labels(R"({"liver": 1, "bg": 0})"), "labels_no_background", "labels"));
  EXPECT_TRUE(
      has_problem(parse_labels(R"({"background": 1, "liver": 0})"), "labels_background_not_zero", "labels.background"));
  EXPECT_TRUE(has_problem(parse_labels(R"({"background": [0], "liver": 1})"), "labels_background_not_zero",
                          "labels.background"));
  EXPECT_TRUE(has_problem(parse_labels(R"({"background": 0, "a": 1, "b": 3})"), "labels_not_consecutive", "labels"));
  EXPECT_TRUE(has_problem(parse_labels(R"({"background": 0, "a": 1, "ignore": 5})"), "labels_ignore_not_highest",
                          "labels.ignore"));
  EXPECT_TRUE(has_problem(parse_labels(R"({"background": 0, "a": 1, "ignore": [2, 3]})"), "labels_ignore_not_integer",
                          "labels.ignore"));
  EXPECT_TRUE(has_problem(parse_labels(R"({"background": 0, "a": 40000})"), "labels_out_of_range", "labels.a"));
  EXPECT_TRUE(has_problem(parse_labels(R"({"background": 0, "a": [1, 2], "b": 2})"), "regions_missing_class_order",
                          "regions_class_order"));
  EXPECT_TRUE(has_problem(parse_labels(R"({"background": 0, "a": [1, 2], "b": 2})", R"(, "regions_class_order": [1])"),
                          "regions_class_order_length", "regions_class_order"));
  // Warnings, not errors.
  DatasetJsonParse duplicate = parse_labels(R"({"background": 0, "a": 1, "b": 1})");
  EXPECT_TRUE(codes_of(duplicate).empty());
  EXPECT_TRUE(has_problem(duplicate, "labels_duplicate_value", "labels.b"));
  // An ignore label equal to max + 1 is fine; 1.0 is an integer (Python's int() accepts it).
  EXPECT_TRUE(codes_of(parse_labels(R"({"background": 0, "a": 1.0, "ignore": 2})")).empty());
}

TEST(DatasetJson, DuplicateKeysAreFound) {
  DatasetJsonParse parsed = parse_dataset_json_collect(R"({"channel_names": {"0": "CT"},
      "labels": {"background": 0, "a": 1, "a": 2}, "numTraining": 2, "file_ending": ".nii.gz",
      "dataset": {"c1": {"images": ["imagesTr/c1_0000.nii.gz"], "label": "labelsTr/c1.nii.gz"},
                  "c1": {"images": ["imagesTr/c2_0000.nii.gz"], "label": "labelsTr/c2.nii.gz"}}})",
                                                       "d.json");
  EXPECT_TRUE(has_problem(parsed, "json_duplicate_key", "labels.a"));
  EXPECT_TRUE(has_problem(parsed, "duplicate_case_id", "dataset.c1"));
}

TEST(DatasetJson, DatasetDictEntriesAreChecked) {
  DatasetJsonParse parsed = parse_dataset_json_collect(R"({"channel_names": {"0": "T1", "1": "T2"},
      "labels": {"background": 0, "a": 1}, "numTraining": 2, "file_ending": ".nii.gz",
      "dataset": {"c1": {"images": ["a_0000.nii.gz"], "label": "a.nii.gz"}, "c2": {"label": "b.nii.gz"}}})",
                                                       "d.json");
  EXPECT_TRUE(has_problem(parsed, "dataset_entry_channel_count", "dataset.c1.images"));
  EXPECT_TRUE(has_problem(parsed, "json_bad_value", "dataset.c2"));
  EXPECT_FALSE(parsed.dataset_dict_ok);
}

TEST(DatasetJson, SyntaxErrorsAndNonObjects) {
  DatasetJsonParse broken = parse_dataset_json_collect("{\"labels\": {", "d.json");
  EXPECT_FALSE(broken.json.has_value());
  EXPECT_EQ(codes_of(broken), std::vector<std::string>{"json_syntax"});
  DatasetJsonParse array = parse_dataset_json_collect("[1, 2]", "d.json");
  EXPECT_EQ(codes_of(array), std::vector<std::string>{"json_not_object"});
}

TEST(DatasetJson, UnsupportedFileEndingIsAnError) {
  DatasetJsonParse parsed = parse_dataset_json_collect(
      R"({"channel_names": {"0": "R"}, "labels": {"background": 0, "a": 1}, "numTraining": 1, "file_ending": ".png"})",
      "d");
  EXPECT_TRUE(has_problem(parsed, "file_ending_unsupported", "file_ending"));
}

TEST(DatasetJson, ThrowingParserListsEveryError) {
  try {
    parse_dataset_json(R"({"labels": {"background": 2}, "numTraining": "many"})", "/data/Dataset001_X/dataset.json");
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    const std::string message = e.what();
    for (const char* part : {"/data/Dataset001_X/dataset.json", "channel_names", "labels.background", "numTraining",
                             "file_ending", "\"many\""}) {
      EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
    }
  }
}

TEST(DatasetJson, RoundTripKeepsEverything) {
  const std::string text = R"({"channel_names": {"0": "FLAIR", "1": "T1"},
      "labels": {"background": 0, "whole": [1, 2], "core": 2, "ignore": 3}, "regions_class_order": [1, 2],
      "numTraining": 7, "file_ending": ".nii", "description": "d", "dataset": {"b": {"images": ["$ROOT/b_0000.nii", "b1.nii"],
      "label": "lb.nii"}, "a": {"images": ["a0.nii", "a1.nii"], "label": "la.nii"}}})";
  const DatasetJson first = parse_dataset_json(text, "d");
  const DatasetJson second = parse_dataset_json(dataset_json_to_json(first).dump(), "d");
  EXPECT_EQ(dataset_json_to_json(first), dataset_json_to_json(second));
  ASSERT_TRUE(second.dataset.has_value());
  ASSERT_EQ(second.dataset->size(), 2u);
  EXPECT_EQ((*second.dataset)[0].id, "b");  // file order kept
  EXPECT_EQ((*second.dataset)[0].images[0], "$ROOT/b_0000.nii");
  EXPECT_EQ(second.regions_class_order, (std::vector<int>{1, 2}));
  EXPECT_EQ(second.labels[1].values, (std::vector<int>{1, 2}));
  EXPECT_TRUE(second.labels[2].is_list == false);
  EXPECT_EQ(second.other["description"], "d");
}

TEST(DatasetJson, OtherFileEndingsParseOnlyWhenAskedForAndNoneMeansNoReaderWriter) {
  const std::string text = R"({"channel_names": {"0": "R", "1": "G", "2": "B"},
      "labels": {"background": 0, "road": 1}, "numTraining": 12, "file_ending": ".png",
      "overwrite_image_reader_writer": "None"})";
  const DatasetJsonParse nifti = parse_dataset_json_collect(text, "d.json");
  EXPECT_TRUE(has_problem(nifti, "file_ending_unsupported", "file_ending"));
  EXPECT_THROW(parse_dataset_json(text, "d.json"), InvalidInput);
  // Planning from a fingerprint reads no image: nnU-Net's other formats plan.
  const DatasetJsonParse any = parse_dataset_json_collect(text, "d.json", FileEndings::any);
  EXPECT_TRUE(codes_of(any).empty());
  EXPECT_TRUE(codes_of(any, Severity::warning).empty());  // "None" is not a reader/writer to warn about
  const DatasetJson json = parse_dataset_json(text, "d.json", FileEndings::any);
  EXPECT_EQ(json.file_ending, ".png");
  EXPECT_TRUE(json.overwrite_image_reader_writer.empty());
  EXPECT_EQ(json.labels.size(), 2u);  // what nnU-Net's feature-map estimate counts
  EXPECT_EQ(json.num_segmentation_heads(), 2);
  // Still a file ending.
  EXPECT_THROW(parse_dataset_json(R"({"channel_names": {"0": "R"}, "labels": {"background": 0, "a": 1},
      "numTraining": 1, "file_ending": "png"})",
                                  "d.json", FileEndings::any),
               InvalidInput);
}

}  // namespace
}  // namespace nnuc::data
