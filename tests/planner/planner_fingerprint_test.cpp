// Parsing of dataset.json and dataset_fingerprint.json: valid documents give the planner's view of
// the dataset; malformed ones fail with a message naming the file, the field and the value.
#include <gtest/gtest.h>

#include <fstream>

#include "kernels/core/error.h"
#include "planner/fingerprint.h"
#include "tests/support/test_support.h"

namespace nnuc::planner {
namespace {

using Json = nlohmann::ordered_json;

Json valid_dataset() {
  return Json::parse(R"({"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "PZ": 1, "TZ": 2},
                         "numTraining": 32, "file_ending": ".nii.gz", "name": "Prostate"})");
}

Json valid_fingerprint() {
  return Json::parse(R"({"foreground_intensity_properties_per_channel": {"0": {"mean": 1.5, "std": 2.0}},
                         "median_relative_size_after_cropping": 0.9,
                         "shapes_after_crop": [[20, 320, 320], [18, 300, 310]],
                         "spacings": [[3.6, 0.625, 0.625], [3.0, 0.6, 0.6]]})");
}

// Expects parsing to throw InvalidInput whose message contains every fragment.
template <typename Parse>
void expect_error(Parse parse, const std::vector<std::string>& fragments) {
  try {
    parse();
    ADD_FAILURE() << "no error; expected one mentioning " << Json(fragments).dump();
  } catch (const InvalidInput& e) {
    const std::string message = e.what();
    for (const auto& f : fragments) EXPECT_NE(message.find(f), std::string::npos) << "'" << f << "' not in: " << message;
  }
}

TEST(PlannerDatasetJson, ParsesTheFieldsThePlannerNeeds) {
  const DatasetDescription d = parse_dataset_json(valid_dataset(), "dataset.json");
  EXPECT_EQ(d.channel_names, (std::vector<std::string>{"T2", "ADC"}));
  EXPECT_EQ(d.num_label_entries, 3);
  EXPECT_EQ(d.num_output_channels, 3);
  EXPECT_FALSE(d.has_regions);
  EXPECT_EQ(d.num_training, 32);
  EXPECT_EQ(d.file_ending, ".nii.gz");
  EXPECT_TRUE(d.overwrite_image_reader_writer.empty());
}

TEST(PlannerDatasetJson, RegionsIgnoreLabelAndLegacyModality) {
  Json doc = valid_dataset();
  doc["labels"] = Json::parse(R"({"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3],
                                  "enhancing tumor": 3, "ignore": 4})");
  doc.erase("channel_names");
  doc["modality"] = Json{{"0", "FLAIR"}};
  doc["overwrite_image_reader_writer"] = "NibabelIO";
  const DatasetDescription d = parse_dataset_json(doc, "dataset.json");
  EXPECT_EQ(d.channel_names, (std::vector<std::string>{"FLAIR"}));
  EXPECT_TRUE(d.has_regions);
  EXPECT_TRUE(d.has_ignore_label);
  EXPECT_EQ(d.num_label_entries, 5);   // what nnU-Net's estimate counts
  EXPECT_EQ(d.num_output_channels, 3); // the three regions
  EXPECT_EQ(d.overwrite_image_reader_writer, "NibabelIO");
}

TEST(PlannerDatasetJson, MalformedDocumentsNameFileFieldAndValue) {
  const std::string file = "/data/Dataset123_X/dataset.json";
  auto with = [&](const std::string& key, const Json& value) {
    Json doc = valid_dataset();
    doc[key] = value;
    return [doc, file]() { parse_dataset_json(doc, file); };
  };
  auto without = [&](const std::string& key) {
    Json doc = valid_dataset();
    doc.erase(key);
    return [doc, file]() { parse_dataset_json(doc, file); };
  };
  expect_error(without("channel_names"), {file, "channel_names", "missing"});
  expect_error(without("labels"), {file, "\"labels\"", "missing"});
  expect_error(without("numTraining"), {file, "numTraining", "missing"});
  expect_error(without("file_ending"), {file, "file_ending", "missing"});
  expect_error(with("numTraining", -3), {file, "numTraining", "-3", "positive int"});
  expect_error(with("numTraining", "many"), {file, "numTraining", "\"many\""});
  expect_error(with("file_ending", 7), {file, "file_ending", "7"});
  expect_error(with("channel_names", Json::array()), {file, "channel_names", "[]"});
  expect_error(with("channel_names", Json{{"0", "CT"}, {"5", "T2"}}), {file, "channel_names", "\"5\"", "0..1"});
  expect_error(with("channel_names", Json{{"0", 12}}), {file, "channel_names", "12", "string"});
  expect_error(with("labels", Json{{"liver", 1}}), {file, "labels", "background"});
  expect_error(with("labels", Json{{"background", 1}, {"liver", 0}}), {file, "background", "1", "int 0"});
  expect_error(with("labels", Json{{"background", 0}, {"liver", "one"}}), {file, "liver", "\"one\""});
  expect_error(with("labels", Json{{"background", 0}, {"liver", Json::array()}}), {file, "liver", "empty"});
  expect_error(with("labels", Json{{"background", 0}, {"liver", 1}, {"ignore", 5}}),
               {file, "ignore", "5", "max(all labels) + 1 = 2"});
  expect_error([&] { parse_dataset_json(Json::array(), file); }, {file, "object"});
}

TEST(PlannerFingerprint, ParsesAValidFingerprint) {
  const Fingerprint f = parse_fingerprint(valid_fingerprint(), "dataset_fingerprint.json");
  ASSERT_EQ(f.spacings.size(), 2u);
  EXPECT_EQ(f.spacings[1], (std::array<double, 3>{3.0, 0.6, 0.6}));
  EXPECT_EQ(f.shapes_after_crop[0], (std::array<std::int64_t, 3>{20, 320, 320}));
  EXPECT_EQ(f.median_relative_size_after_cropping, 0.9);
  EXPECT_EQ(f.foreground_intensity_properties_per_channel.dump(), R"({"0":{"mean":1.5,"std":2.0}})");
}

TEST(PlannerFingerprint, MalformedFingerprintsNameFileFieldAndValue) {
  const std::string file = "/pre/Dataset123_X/dataset_fingerprint.json";
  auto with = [&](const std::string& key, const Json& value) {
    Json doc = valid_fingerprint();
    doc[key] = value;
    return [doc, file]() { parse_fingerprint(doc, file); };
  };
  auto without = [&](const std::string& key) {
    Json doc = valid_fingerprint();
    doc.erase(key);
    return [doc, file]() { parse_fingerprint(doc, file); };
  };
  expect_error(without("spacings"), {file, "spacings", "missing"});
  expect_error(without("shapes_after_crop"), {file, "shapes_after_crop", "missing"});
  expect_error(without("median_relative_size_after_cropping"), {file, "median_relative_size_after_cropping"});
  expect_error(without("foreground_intensity_properties_per_channel"), {file, "foreground_intensity"});
  expect_error(with("spacings", Json::array()), {file, "spacings", "[]", "non-empty"});
  expect_error(with("spacings", Json::parse("[[3.6, 0.625], [3.0, 0.6, 0.6]]")),
               {file, "spacings\"[0]", "[3.6,0.625]", "3 numbers"});
  expect_error(with("spacings", Json::parse("[[3.6, 0.625, 0.625], [3.0, 0.0, 0.6]]")),
               {file, "spacings\"[1]", "[3.0,0.0,0.6]", "> 0"});
  expect_error(with("spacings", Json::parse("[[3.6, \"x\", 0.625], [3.0, 0.6, 0.6]]")),
               {file, "spacings\"[0]", "\"x\"", "not a number"});
  expect_error(with("shapes_after_crop", Json::parse("[[20, 320, 320]]")),
               {file, "shapes_after_crop", "1 entries", "\"spacings\" has 2"});
  expect_error(with("shapes_after_crop", Json::parse("[[20, 320, 320], [18, 0, 310]]")),
               {file, "shapes_after_crop\"[1]", "[18,0,310]", ">= 1"});
  expect_error(with("shapes_after_crop", Json::parse("[[20, 320.5, 320], [18, 300, 310]]")),
               {file, "shapes_after_crop\"[0]", "320.5"});
  expect_error(with("median_relative_size_after_cropping", "big"),
               {file, "median_relative_size_after_cropping", "\"big\""});
  expect_error(with("foreground_intensity_properties_per_channel", 3), {file, "foreground_intensity", "3"});
}

TEST(PlannerFingerprint, FilesMissingOrNotJson) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("nnuc_planner_fp_" + std::to_string(nnuc::testing::test_seed()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path missing = dir / "nope.json";
  try {
    load_fingerprint(missing);
    ADD_FAILURE() << "no error for a missing file";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos);
  }
  const std::filesystem::path broken = dir / "dataset_fingerprint.json";
  std::ofstream(broken) << "{\"spacings\": [[1, 2, 3]";
  expect_error([&] { load_fingerprint(broken); }, {broken.string(), "not valid JSON"});
  std::ofstream(dir / "dataset.json") << valid_dataset().dump();
  EXPECT_EQ(load_dataset_json(dir / "dataset.json").num_training, 32);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace nnuc::planner
