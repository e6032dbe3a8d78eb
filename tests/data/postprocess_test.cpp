// Postprocessing (data/postprocess): determine_postprocessing on constructed cases whose right answer
// is known (a spurious far-away blob is removed; removing a true component is rejected; a per-label
// step), parity with nnunetv2's determine_postprocessing on the committed fixture (postprocessing.json
// byte for byte, postprocessed voxels equal), apply == the determined output, cross-validation
// accumulation, and bad input (errors name the folder/case, nothing half-written).
#include "data/postprocess/postprocess.h"

#include <gtest/gtest.h>

#include <random>

#include "data/dataset/atomic_file.h"
#include "data/evaluation/python_json.h"
#include "tests/data/evaluation_fixture.h"

namespace nnuc::data {
namespace {

using namespace nnuc::testing::evaluation;
using Json = nlohmann::ordered_json;
using Shape3D = std::array<std::int64_t, 3>;

struct Volume {
  Shape3D shape;
  std::vector<std::int16_t> voxels;
  explicit Volume(const Shape3D& s) : shape(s), voxels(static_cast<std::size_t>(s[0] * s[1] * s[2]), 0) {}
  std::int16_t& at(std::int64_t x, std::int64_t y, std::int64_t z) {
    return voxels[static_cast<std::size_t>((x * shape[1] + y) * shape[2] + z)];
  }
  void box(const Shape3D& begin, const Shape3D& end, std::int16_t label) {
    for (std::int64_t x = begin[0]; x < end[0]; ++x)
      for (std::int64_t y = begin[1]; y < end[1]; ++y)
        for (std::int64_t z = begin[2]; z < end[2]; ++z) at(x, y, z) = label;
  }
  Tensor tensor() const { return label_map(shape, voxels); }
};

int uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(testing::rng()); }

// A box of random size (3..5 per axis) somewhere in x in [x_low, x_high).
std::pair<Shape3D, Shape3D> random_box(const Shape3D& shape, int x_low, int x_high) {
  Shape3D begin{}, end{};
  for (int axis = 0; axis < 3; ++axis) {
    const int size = uniform(3, 5);
    const int low = axis == 0 ? x_low : 0;
    const int high = axis == 0 ? x_high : static_cast<int>(shape[static_cast<std::size_t>(axis)]);
    begin[static_cast<std::size_t>(axis)] = uniform(low, high - size);
    end[static_cast<std::size_t>(axis)] = begin[static_cast<std::size_t>(axis)] + size;
  }
  return {begin, end};
}

void copy_folder(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from))
    fs::copy_file(entry.path(), fs::path(to) / entry.path().filename());
}

TEST(Postprocess, SpuriousFarBlobIsRemoved) {
  TempFolder folder("nnuc_pp_blob");
  fs::create_directories(folder.file("ref"));
  fs::create_directories(folder.file("pred"));
  const Shape3D shape{22, 12, 11};
  std::vector<std::vector<std::int16_t>> expected;
  for (int c = 0; c < 3; ++c) {
    Volume ref(shape);
    const auto [begin, end] = random_box(shape, 0, 10);
    ref.box(begin, end, 1);
    Volume pred = ref;
    pred.at(begin[0], begin[1], begin[2]) = 0;  // a boundary error that stays
    expected.push_back(pred.voxels);
    const auto [blob_begin, blob_end] = random_box(shape, 14, 22);
    pred.box(blob_begin, {blob_begin[0] + 1, blob_begin[1] + 2, blob_begin[2] + 1}, 1);  // far away, 2 voxels
    const std::string name = "case_" + std::to_string(c) + ".nii.gz";
    write_case(folder.file("ref/" + name), ref.tensor());
    write_case(folder.file("pred/" + name), pred.tensor());
  }
  const PostprocessingResult result =
      determine_postprocessing(folder.file("pred"), folder.file("ref"), {{{1}, false}}, std::nullopt, ".nii.gz", 2);
  ASSERT_EQ(result.steps.size(), 1u);
  EXPECT_EQ(result.steps[0].labels, std::vector<int>{1});
  EXPECT_EQ(result.steps[0].labels_or_regions, Json::array({1}));  // candidate A: the list of labels
  EXPECT_GT(foreground_mean_dice(result.postprocessed_summary), foreground_mean_dice(result.input_summary));
  for (int c = 0; c < 3; ++c)
    EXPECT_EQ(read_voxels(folder.file("pred/postprocessed/case_" + std::to_string(c) + ".nii.gz")), expected[c]);
  const Json written = read_python_json_file(folder.file("pred/postprocessing.json"));
  EXPECT_EQ(dump_python_json(written), dump_python_json(postprocessing_json(result)));
  EXPECT_EQ(written["postprocessing_fns"], Json::array({kKeepLargestComponentFunction}));
  EXPECT_EQ(load_postprocessing(folder.file("pred/postprocessing.json")), result.steps);
  EXPECT_EQ(dump_python_json(read_summary(folder.file("pred/postprocessed/summary.json"))),
            dump_python_json(result.postprocessed_summary));
  EXPECT_EQ(read_summary(folder.file("pred/postprocessed/summary.json"))["metric_per_case"][0]["prediction_file"],
            folder.file("pred/postprocessed/case_0.nii.gz"));
  // Nothing left of the staging folders.
  for (const std::string& name : folder_entries(folder.file("pred"))) EXPECT_NE(name.rfind(".tmp-", 0), 0u) << name;
}

TEST(Postprocess, RemovingATrueComponentIsRejected) {
  TempFolder folder("nnuc_pp_reject");
  fs::create_directories(folder.file("ref"));
  fs::create_directories(folder.file("pred"));
  const Shape3D shape{22, 12, 11};
  Volume ref(shape);
  const auto [begin, end] = random_box(shape, 0, 10);
  ref.box(begin, end, 1);
  const auto [second_begin, second_end] = random_box(shape, 14, 22);
  ref.box(second_begin, {second_end[0] - 1, second_end[1], second_end[2]}, 1);  // smaller, also true
  Volume pred = ref;
  pred.at(second_begin[0], second_begin[1], second_begin[2]) = 0;
  write_case(folder.file("ref/a.nii.gz"), ref.tensor());
  write_case(folder.file("pred/a.nii.gz"), pred.tensor());
  const PostprocessingResult result =
      determine_postprocessing(folder.file("pred"), folder.file("ref"), {{{1}, false}}, std::nullopt, ".nii.gz", 1);
  EXPECT_TRUE(result.steps.empty());
  ASSERT_EQ(result.messages.size(), 1u);
  EXPECT_EQ(result.messages[0].rfind("rejected", 0), 0u) << result.messages[0];
  EXPECT_EQ(read_file_text(folder.file("pred/postprocessed/a.nii.gz")), read_file_text(folder.file("pred/a.nii.gz")));
  const Json written = read_python_json_file(folder.file("pred/postprocessing.json"));
  EXPECT_TRUE(written["postprocessing_fns"].empty());
  EXPECT_EQ(written["postprocessed"]["foreground_mean"], written["input_folder"]["foreground_mean"]);
}

TEST(Postprocess, PerLabelStepOnTopOfTheAcceptedResult) {
  TempFolder folder("nnuc_pp_label");
  fs::create_directories(folder.file("ref"));
  fs::create_directories(folder.file("pred"));
  const Shape3D shape{18, 12, 10};
  for (int c = 0; c < 2; ++c) {
    Volume ref(shape);
    const int z = uniform(0, 4);
    ref.box({2, 2, z}, {8, 8, z + 5}, 1);
    ref.box({8, 3, z}, {13, 8, z + 5}, 2);  // touches label 1
    Volume pred = ref;
    pred.box({1, 8, z}, {3, 10, z + 2}, 2);  // spurious label 2 touching label 1 only: survives candidate A
    write_case(folder.file("ref/" + std::to_string(c) + ".nii.gz"), ref.tensor());
    write_case(folder.file("pred/" + std::to_string(c) + ".nii.gz"), pred.tensor());
  }
  const PostprocessingResult result = determine_postprocessing(
      folder.file("pred"), folder.file("ref"), {{{1}, false}, {{2}, false}}, std::nullopt, ".nii.gz", 2);
  ASSERT_EQ(result.steps.size(), 1u);  // candidate A and label 1 change nothing: not a strict increase
  EXPECT_EQ(result.steps[0].labels_or_regions, Json(2));
  ASSERT_EQ(result.messages.size(), 3u);
  EXPECT_EQ(result.messages[2].rfind("accepted", 0), 0u) << result.messages[2];
  EXPECT_EQ(mean_dice(result.postprocessed_summary, "2"), 1.0);
}

// nnunetv2's determine_postprocessing on the fixture: accepted candidate A, rejected label 1,
// accepted label 2. postprocessing.json must be the same bytes, postprocessed/ the same voxels.
TEST(Postprocess, MatchesNnunetOnFixture) {
  TempFolder folder("nnuc_pp_fixture");
  copy_folder((fixture_dir() / "pred").string(), folder.file("pred"));
  const std::string reference = (fixture_dir() / "ref").string();
  const DatasetJson dataset = load_dataset_json((fixture_dir() / "dataset.json").string());
  const std::vector<LabelOrRegion> items = labels_or_regions_from_dataset(dataset);
  const PostprocessingResult result =
      determine_postprocessing(folder.file("pred"), reference, items, dataset.ignore_label(), ".nii.gz", 3);
  EXPECT_EQ(read_file_text(folder.file("pred/postprocessing.json")),
            read_file_text((fixture_dir() / "postprocessing.json").string()));
  for (const std::string name : {"case_000.nii.gz", "case_001.nii.gz", "case_002.nii.gz"}) {
    EXPECT_EQ(read_voxels(folder.file("pred/postprocessed/" + name)),
              read_voxels((fixture_dir() / "pp_expected" / name).string()))
        << name;
    EXPECT_TRUE(same_header_geometry(read_nifti_label(folder.file("pred/postprocessed/" + name)).geometry,
                                     read_nifti_label(folder.file("pred/" + name)).geometry))
        << name;
  }
  // Applying the chosen steps gives exactly the files determine wrote.
  apply_postprocessing(folder.file("pred"), folder.file("applied"), folder.file("pred/postprocessing.json"), 2);
  for (const std::string name : {"case_000.nii.gz", "case_001.nii.gz", "case_002.nii.gz"})
    EXPECT_EQ(read_file_text(folder.file("applied/" + name)), read_file_text(folder.file("pred/postprocessed/" + name)))
        << name;
  // nnU-Net's own postprocessing.json applied by nnuc gives nnU-Net's voxels.
  apply_postprocessing((fixture_dir() / "pred").string(), folder.file("applied_nnunet"),
                       (fixture_dir() / "postprocessing.json").string(), 1, ".nii.gz");
  for (const std::string name : {"case_000.nii.gz", "case_001.nii.gz", "case_002.nii.gz"})
    EXPECT_EQ(read_voxels(folder.file("applied_nnunet/" + name)),
              read_voxels((fixture_dir() / "pp_expected" / name).string()))
        << name;
  EXPECT_EQ(result.steps, load_postprocessing((fixture_dir() / "postprocessing.json").string()));
}

TEST(Postprocess, StepsAndKwargs) {
  EXPECT_EQ(keep_largest_step(LabelOrRegion{{3}, false}).labels_or_regions, Json(3));
  EXPECT_EQ(keep_largest_step(LabelOrRegion{{2, 1}, true}).labels_or_regions, Json::array({2, 1}));
  EXPECT_EQ(keep_largest_step(LabelOrRegion{{2, 1}, true}).labels, (std::vector<int>{1, 2}));
  // Two steps in order: the union {1, 2} first keeps the bigger object, then label 2 alone.
  Volume seg({1, 9, 9});
  seg.box({0, 0, 0}, {1, 3, 3}, 1);  // 9 voxels
  seg.box({0, 0, 3}, {1, 1, 4}, 2);  // 1 voxel touching label 1
  seg.box({0, 5, 5}, {1, 7, 7}, 2);  // 4 voxels, not touching
  const Tensor out = apply_postprocessing_steps(
      seg.tensor(), {keep_largest_step(std::vector<int>{1, 2}), keep_largest_step(LabelOrRegion{{2}, false})});
  Volume expected({1, 9, 9});
  expected.box({0, 0, 0}, {1, 3, 3}, 1);
  expected.box({0, 0, 3}, {1, 1, 4}, 2);
  EXPECT_EQ(out.to_vector<std::int16_t>(), expected.voxels);
}

TEST(Postprocess, BadInputNamesItAndWritesNothing) {
  TempFolder folder("nnuc_pp_bad");
  fs::create_directories(folder.file("ref"));
  fs::create_directories(folder.file("pred"));
  const std::vector<LabelOrRegion> items = {{{1}, false}};
  const Tensor labels = testing::random_labels(Shape({4, 5, 6}), DType::i16, 2);
  write_case(folder.file("ref/a.nii.gz"), labels);
  write_case(folder.file("pred/a.nii.gz"), labels);
  write_case(folder.file("pred/b.nii.gz"), labels);  // no reference
  const auto determine = [&] {
    determine_postprocessing(folder.file("pred"), folder.file("ref"), items, std::nullopt, ".nii.gz", 2);
  };
  EXPECT_ERROR_MENTIONS(determine(), folder.file("ref/b.nii.gz"));
  EXPECT_ERROR_MENTIONS(
      determine_postprocessing(folder.file("nope"), folder.file("ref"), items, std::nullopt, ".nii.gz", 2),
      folder.file("nope"));
  write_case(folder.file("ref/b.nii.gz"), testing::random_labels(Shape({4, 5, 7}), DType::i16, 2));  // shape mismatch
  EXPECT_ERROR_MENTIONS(determine(), folder.file("pred/b.nii.gz"));
  EXPECT_EQ(folder_entries(folder.file("pred")), (std::vector<std::string>{"a.nii.gz", "b.nii.gz"}));

  // apply: one unreadable case -> an error naming it, and no output case.
  write_file_atomic(folder.file("pred/b.nii.gz"), std::string("garbage"));
  write_file_atomic(folder.file("pp.json"),
                    std::string(R"({"postprocessing_fns": ["remove_all_but_largest_component_from_segmentation"],)"
                                R"( "postprocessing_kwargs": [{"labels_or_regions": [1]}]})"));
  EXPECT_NE(any_error_of([&] {
              apply_postprocessing(folder.file("pred"), folder.file("out"), folder.file("pp.json"), 2);
            }).find(folder.file("pred/b.nii.gz")),
            std::string::npos);
  EXPECT_TRUE(folder_entries(folder.file("out")).empty());
  EXPECT_ERROR_MENTIONS(apply_postprocessing(folder.file("missing"), folder.file("out"), folder.file("pp.json"), 2),
                        folder.file("missing"));

  write_file_atomic(folder.file("bad_pp.json"),
                    std::string(R"({"postprocessing_fns": ["something_else"], "postprocessing_kwargs": [{}]})"));
  EXPECT_ERROR_MENTIONS(load_postprocessing(folder.file("bad_pp.json")), "postprocessing_fns[0]");
  write_file_atomic(folder.file("bad_pp.json"),
                    std::string(R"({"postprocessing_fns": ["remove_all_but_largest_component_from_segmentation"],)"
                                R"( "postprocessing_kwargs": [{"labels_or_regions": "one"}]})"));
  EXPECT_ERROR_MENTIONS(load_postprocessing(folder.file("bad_pp.json")), "postprocessing_kwargs[0]");
}

TEST(Postprocess, AccumulateCrossval) {
  TempFolder folder("nnuc_pp_cv");
  for (const char* sub : {"ref", "fold_0", "fold_1", "cv"}) fs::create_directories(folder.file(sub));
  for (int c = 0; c < 4; ++c) {
    const std::string name = "case_" + std::to_string(c) + ".nii.gz";
    write_case(folder.file("ref/" + name), testing::random_labels(Shape({3, 4, 5}), DType::i16, 3));
    write_case(folder.file((c % 2 ? "fold_1/" : "fold_0/") + name),
               testing::random_labels(Shape({3, 4, 5}), DType::i16, 3));
  }
  write_case(folder.file("cv/stale.nii.gz"), testing::random_labels(Shape({3, 4, 5}), DType::i16, 3));
  const std::vector<LabelOrRegion> items = {{{1}, false}, {{2}, false}};
  const Json summary = accumulate_crossval({folder.file("fold_0"), folder.file("fold_1")}, folder.file("cv"),
                                           folder.file("ref"), items, std::nullopt, ".nii.gz", 2);
  EXPECT_EQ(summary["metric_per_case"].size(), 4u);
  EXPECT_EQ(
      folder_entries(folder.file("cv")),
      (std::vector<std::string>{"case_0.nii.gz", "case_1.nii.gz", "case_2.nii.gz", "case_3.nii.gz", "summary.json"}));
  EXPECT_EQ(read_file_text(folder.file("cv/case_3.nii.gz")), read_file_text(folder.file("fold_1/case_3.nii.gz")));
  // The same case in two folds: an error naming both, nothing copied.
  fs::copy_file(folder.file("fold_0/case_0.nii.gz"), folder.file("fold_1/case_0.nii.gz"));
  const std::string message = testing::error_of([&] {
    accumulate_crossval({folder.file("fold_0"), folder.file("fold_1")}, folder.file("cv2"), folder.file("ref"), items,
                        std::nullopt, ".nii.gz", 2);
  });
  EXPECT_NE(message.find(folder.file("fold_0/case_0.nii.gz")), std::string::npos) << message;
  EXPECT_NE(message.find(folder.file("fold_1/case_0.nii.gz")), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(folder.file("cv2")));
}

}  // namespace
}  // namespace nnuc::data
