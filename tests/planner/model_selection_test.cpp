// Ensembling, cross-validation accumulation and find_best_configuration (planner/ensemble.h,
// planner/model_selection.h) on folders built here with data/'s writers: NIfTI label maps, CASE.npz
// probabilities and CASE.json properties, as nnuc train --npz writes them. No training.
#include "planner/model_selection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset/atomic_file.h"
#include "data/dataset/dataset_json.h"
#include "data/evaluation/metrics.h"
#include "data/evaluation/python_json.h"
#include "data/export/npz.h"
#include "data/nifti/nifti_io.h"
#include "data/preprocess/nifti_case.h"
#include "data/preprocess/preprocess_case.h"
#include "planner/ensemble.h"
#include "tests/data/raw_dataset_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::planner {
namespace {

namespace fs = std::filesystem;
using testing::TempFolder;

constexpr std::array<std::int64_t, 3> kShape{2, 5, 6};  // (a0, a1, a2)
constexpr std::int64_t kVoxels = 2 * 5 * 6;

data::NiftiGeometry geometry(double origin_x = 3.5) {
  return data::make_nifti_geometry(kShape, {2.0, 0.8, 0.7}, {origin_x, -4.0, 11.0},
                                   {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
}

data::CaseProperties properties_of(const data::NiftiGeometry& g, double target_spacing) {
  data::CaseProperties p;
  p.spacing = g.spacing;
  p.shape_before_cropping = kShape;
  p.bbox_used_for_cropping.begin = {0, 0, 0};
  p.bbox_used_for_cropping.end = kShape;
  p.shape_after_cropping_and_before_resampling = kShape;
  p.spacing_after_resampling = {target_spacing, target_spacing, target_spacing};
  p.reader_properties = {{"reader", "nifti"}, {"geometry", data::nifti_geometry_to_json(g)}};
  return p;
}

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

const char* kLabelsDataset =
    R"({"channel_names": {"0": "MRI"}, "labels": {"background": 0, "core": 1, "rim": 2}, "numTraining": 5,
        "file_ending": ".nii.gz"})";
const char* kRegionsDataset =
    R"({"channel_names": {"0": "MRI"}, "labels": {"background": 0, "whole": [1, 2], "core": 2},
        "regions_class_order": [1, 2], "numTraining": 5, "file_ending": ".nii.gz"})";

// CASE.npz + CASE.json in `folder`.
void write_member(const std::string& folder, const std::string& identifier, const Tensor& probabilities,
                  const data::CaseProperties& properties) {
  fs::create_directories(folder);
  data::write_npz((fs::path(folder) / (identifier + ".npz")).string(), {{"probabilities", probabilities}});
  write_text((fs::path(folder) / (identifier + ".json")).string(), data::case_properties_to_json(properties).dump(1));
}

// Random positive values normalized over the channels (a softmax output).
Tensor random_probabilities(std::int64_t channels) {
  Tensor p = testing::random_uniform(Shape{channels, kShape[0], kShape[1], kShape[2]}, DType::f32, 0.05, 1.0);
  float* v = p.data<float>();
  for (std::int64_t i = 0; i < kVoxels; ++i) {
    float sum = 0;
    for (std::int64_t c = 0; c < channels; ++c) sum += v[c * kVoxels + i];
    for (std::int64_t c = 0; c < channels; ++c) v[c * kVoxels + i] /= sum;
  }
  return p;
}

std::vector<std::int16_t> read_labels(const std::string& path) {
  return data::read_nifti_label(path).labels.to_vector<std::int16_t>();
}

TEST(ModelSelectionEnsemble, AverageOfTwoMembersThenArgmaxWithTheFirstMembersGeometry) {
  TempFolder work;
  const std::string a = work / "a", b = work / "b", out = work / "out";
  write_text(a + "/dataset.json", kLabelsDataset);
  write_text(a + "/plans.json", R"({"configurations": {"2d": {}}})");
  std::vector<std::pair<Tensor, Tensor>> members;
  for (const char* id : {"case_000", "case_001"}) {
    members.emplace_back(random_probabilities(3), random_probabilities(3));
    write_member(a, id, members.back().first, properties_of(geometry(), 1.0));
    write_member(b, id, members.back().second, properties_of(geometry(), 2.0));  // another target spacing: fine
  }
  EnsembleOptions options;
  options.save_npz = true;
  const EnsembleResult result = ensemble_folders({a, b}, out, options);
  ASSERT_EQ(result.cases, (std::vector<std::string>{"case_000", "case_001"}));
  for (std::size_t n = 0; n < 2; ++n) {
    const std::string id = result.cases[n];
    const float* p = members[n].first.data<float>();
    const float* q = members[n].second.data<float>();
    std::vector<float> average(3 * kVoxels);
    std::vector<std::int16_t> expected(kVoxels);
    for (std::int64_t i = 0; i < 3 * kVoxels; ++i) average[i] = (p[i] + q[i]) / 2.0f;
    for (std::int64_t i = 0; i < kVoxels; ++i) {
      int best = 0;
      for (int c = 1; c < 3; ++c)
        if (average[c * kVoxels + i] > average[best * kVoxels + i]) best = c;
      expected[i] = static_cast<std::int16_t>(best);
    }
    const data::NiftiLabel written = data::read_nifti_label(out + "/" + id + ".nii.gz");
    EXPECT_EQ(written.labels.to_vector<std::int16_t>(), expected) << id;
    EXPECT_TRUE(data::same_header_geometry(written.geometry, geometry())) << id;
    EXPECT_EQ(data::read_npz_array(out + "/" + id + ".npz", "probabilities").to_vector<float>(), average) << id;
    EXPECT_TRUE(fs::is_regular_file(out + "/" + id + ".json"));
  }
  EXPECT_TRUE(fs::is_regular_file(out + "/dataset.json"));
  EXPECT_TRUE(fs::is_regular_file(out + "/plans.json"));
}

TEST(ModelSelectionEnsemble, RegionsAreThresholdedInRegionsClassOrder) {
  TempFolder work;
  const std::string a = work / "a", b = work / "b", out = work / "out";
  write_text(a + "/dataset.json", kRegionsDataset);
  const Tensor p = testing::random_uniform(Shape{2, kShape[0], kShape[1], kShape[2]}, DType::f32, 0.0, 1.0);
  const Tensor q = testing::random_uniform(Shape{2, kShape[0], kShape[1], kShape[2]}, DType::f32, 0.0, 1.0);
  write_member(a, "case_000", p, properties_of(geometry(), 1.0));
  write_member(b, "case_000", q, properties_of(geometry(), 1.0));
  ensemble_folders({a, b}, out);
  std::vector<std::int16_t> expected(kVoxels, 0);
  for (std::int64_t i = 0; i < kVoxels; ++i) {
    if ((p.data<float>()[i] + q.data<float>()[i]) / 2.0f > 0.5f) expected[i] = 1;
    if ((p.data<float>()[kVoxels + i] + q.data<float>()[kVoxels + i]) / 2.0f > 0.5f) expected[i] = 2;
  }
  EXPECT_EQ(read_labels(out + "/case_000.nii.gz"), expected);
}

TEST(ModelSelectionEnsemble, MismatchedMembersAreErrorsNamingTheCaseAndFoldersAndWriteNothing) {
  TempFolder work;
  const std::string a = work / "a", b = work / "b", out = work / "out";
  write_text(a + "/dataset.json", kLabelsDataset);
  write_member(a, "case_000", random_probabilities(3), properties_of(geometry(), 1.0));
  write_member(b, "case_000", random_probabilities(3), properties_of(geometry(), 1.0));
  write_member(a, "case_001", random_probabilities(3), properties_of(geometry(), 1.0));
  // A case missing in one folder.
  EXPECT_ERROR_MENTIONS(ensemble_folders({a, b}, out), "case case_001 has no case_001.npz in " + b);
  // Another shape.
  write_member(b, "case_001",
               testing::random_uniform(Shape{3, kShape[0], kShape[1], kShape[2] + 1}, DType::f32, 0.1, 1.0),
               properties_of(geometry(), 1.0));
  const std::string shape_error = testing::error_of([&] { ensemble_folders({a, b}, out); });
  EXPECT_NE(shape_error.find("case case_001"), std::string::npos) << shape_error;
  EXPECT_NE(shape_error.find(a), std::string::npos) << shape_error;
  EXPECT_NE(shape_error.find(b), std::string::npos) << shape_error;
  // Another geometry.
  write_member(b, "case_001", random_probabilities(3), properties_of(geometry(-7.25), 1.0));
  const std::string geometry_error = testing::error_of([&] { ensemble_folders({a, b}, out); });
  EXPECT_NE(geometry_error.find("case case_001: the properties (geometry)"), std::string::npos) << geometry_error;
  EXPECT_NE(geometry_error.find(b), std::string::npos) << geometry_error;
  // Another channel count than dataset.json's labels.
  write_member(b, "case_001", random_probabilities(2), properties_of(geometry(), 1.0));
  EXPECT_ERROR_MENTIONS(ensemble_folders({a, b}, out), "expected (3, a0, a1, a2)");
  // case_000 was fine each time, but nothing is written unless every case succeeds.
  ASSERT_TRUE(fs::is_directory(out));
  for (const fs::directory_entry& entry : fs::directory_iterator(out)) ADD_FAILURE() << "left " << entry.path();
}

// ---- a results tree: two configurations, 5 folds, one validation case per fold ----

constexpr int kCases = 5;
std::string case_id(int k) { return "case_00" + std::to_string(k); }

// Probabilities of a model for one case: `confidence` on the reference label, the rest shared by the
// other labels; at voxels where wrong(i), the label (t + 1) % 3 gets `wrong_weight`, t `1 - wrong_weight - 0.1`.
Tensor model_probabilities(const std::vector<std::int16_t>& reference, float confidence,
                           const std::function<bool(std::int64_t)>& wrong, float wrong_weight) {
  Tensor p = Tensor::empty_cpu(Shape{3, kShape[0], kShape[1], kShape[2]}, DType::f32);
  float* v = p.data<float>();
  for (std::int64_t i = 0; i < kVoxels; ++i) {
    const int t = reference[i], w = (t + 1) % 3, o = (t + 2) % 3;
    if (wrong(i)) {
      v[w * kVoxels + i] = wrong_weight;
      v[t * kVoxels + i] = std::max(0.0f, 0.9f - wrong_weight);
      v[o * kVoxels + i] = 1.0f - v[w * kVoxels + i] - v[t * kVoxels + i];
    } else {
      v[t * kVoxels + i] = confidence;
      v[w * kVoxels + i] = v[o * kVoxels + i] = (1.0f - confidence) / 2;
    }
  }
  return p;
}

std::vector<std::int16_t> argmax(const Tensor& p) {
  std::vector<std::int16_t> labels(kVoxels);
  const float* v = p.data<float>();
  for (std::int64_t i = 0; i < kVoxels; ++i) {
    int best = 0;
    for (int c = 1; c < 3; ++c)
      if (v[c * kVoxels + i] > v[best * kVoxels + i]) best = c;
    labels[i] = static_cast<std::int16_t>(best);
  }
  return labels;
}

// nnU-Net's foreground mean Dice over labels 1, 2 (nanmean over cases, then mean), in double.
double expected_dice(const std::vector<std::vector<std::int16_t>>& references,
                     const std::vector<std::vector<std::int16_t>>& predictions) {
  double sum_over_labels = 0;
  for (int label = 1; label <= 2; ++label) {
    double sum = 0;
    int counted = 0;
    for (std::size_t n = 0; n < references.size(); ++n) {
      double tp = 0, fp = 0, fn = 0;
      for (std::int64_t i = 0; i < kVoxels; ++i) {
        const bool r = references[n][i] == label, p = predictions[n][i] == label;
        tp += r && p;
        fp += !r && p;
        fn += r && !p;
      }
      if (tp + fp + fn > 0) sum += 2 * tp / (2 * tp + fp + fn), ++counted;
    }
    sum_over_labels += sum / counted;
  }
  return sum_over_labels / 2;
}

struct ResultsTree {
  TempFolder work;
  std::string results = work / "results/Dataset777_Select";
  std::string reference = work / "raw/Dataset777_Select/labelsTr";
  std::vector<std::vector<std::int16_t>> references;
  std::vector<std::vector<std::int16_t>> predictions_2d, predictions_3d, predictions_ensemble;

  // Each model errs at the voxels where its predicate holds, with its weight on the wrong label.
  using Wrong = std::function<bool(std::int64_t)>;
  ResultsTree(const Wrong& wrong_2d, float wrong_weight_2d, const Wrong& wrong_3d, float wrong_weight_3d) {
    fs::create_directories(reference);
    for (int k = 0; k < kCases; ++k) {
      std::vector<std::int16_t> r = testing::random_labels(Shape{kVoxels}, DType::i16, 3).to_vector<std::int16_t>();
      r[0] = 1, r[1] = 2;
      references.push_back(r);
      data::write_nifti_label(reference + "/" + case_id(k) + ".nii.gz",
                              Tensor::from_vector(Shape{kShape[0], kShape[1], kShape[2]}, r), geometry());
      const Tensor p2 = model_probabilities(r, 0.8f, wrong_2d, wrong_weight_2d);
      const Tensor p3 = model_probabilities(r, 0.9f, wrong_3d, wrong_weight_3d);
      write_fold("2d", k, p2);
      write_fold("3d_fullres", k, p3);
      predictions_2d.push_back(argmax(p2));
      predictions_3d.push_back(argmax(p3));
      Tensor average = Tensor::empty_cpu(p2.shape(), DType::f32);
      for (std::int64_t i = 0; i < p2.numel(); ++i)
        average.data<float>()[i] = (p2.data<float>()[i] + p3.data<float>()[i]) / 2.0f;
      predictions_ensemble.push_back(argmax(average));
    }
  }
  std::string model(const std::string& configuration) const {
    return results + "/nnUNetTrainer__nnUNetPlans__" + configuration;
  }
  void write_fold(const std::string& configuration, int k, const Tensor& probabilities) const {
    const std::string folder = model(configuration);
    write_text(folder + "/dataset.json", kLabelsDataset);
    write_text(
        folder + "/plans.json",
        R"({"plans_name": "nnUNetPlans", "configurations": {"2d": {}, "3d_fullres": {}, "3d_cascade_fullres": {}}})");
    const std::string validation = folder + "/fold_" + std::to_string(k) + "/validation";
    write_member(validation, case_id(k), probabilities, properties_of(geometry(), 1.0));
    const std::vector<std::int16_t> labels = argmax(probabilities);
    data::write_nifti_label(validation + "/" + case_id(k) + ".nii.gz",
                            Tensor::from_vector(Shape{kShape[0], kShape[1], kShape[2]}, labels), geometry());
  }
  FindBestOptions options() const {
    FindBestOptions o;
    o.results_dataset_folder = results;
    o.reference_folder = reference;
    o.dataset_for_commands = "Dataset777_Select";
    o.threads = 2;
    for (const std::string& configuration : default_selection_configurations())
      o.models.push_back({"nnUNetTrainer", "nnUNetPlans", configuration});
    return o;
  }
};

TEST(ModelSelectionFindBest, AnEnsembleThatFixesBothModelsWins) {
  // The models err at different voxels, each outvoted there by the other: the ensemble is perfect.
  const ResultsTree tree([](std::int64_t i) { return i % 5 == 1; }, 0.6f, [](std::int64_t i) { return i % 5 == 3; },
                         0.6f);
  std::vector<std::string> lines;
  const FindBestResult result =
      find_best_configuration(tree.options(), [&](const std::string& line) { lines.push_back(line); });
  ASSERT_EQ(result.considered.size(), 2u);  // 3d_lowres is not in the plans; 3d_cascade_fullres has no folder
  ASSERT_EQ(result.entries.size(), 3u);
  const std::string ensemble =
      "ensemble___nnUNetTrainer__nnUNetPlans__2d___nnUNetTrainer__nnUNetPlans__3d_fullres___0_1_2_3_4";
  EXPECT_EQ(result.entries[0].identifier, "nnUNetTrainer__nnUNetPlans__2d");
  EXPECT_EQ(result.entries[1].identifier, "nnUNetTrainer__nnUNetPlans__3d_fullres");
  EXPECT_EQ(result.entries[2].identifier, ensemble);
  EXPECT_NEAR(result.entries[0].foreground_dice, expected_dice(tree.references, tree.predictions_2d), 1e-12);
  EXPECT_NEAR(result.entries[1].foreground_dice, expected_dice(tree.references, tree.predictions_3d), 1e-12);
  EXPECT_EQ(tree.predictions_ensemble, tree.references);
  EXPECT_EQ(result.entries[2].foreground_dice, 1.0);
  EXPECT_LT(result.entries[0].foreground_dice, 0.99);
  EXPECT_EQ(result.best, 2u);

  const std::string ensemble_folder = tree.results + "/ensembles/" + ensemble;
  for (int k = 0; k < kCases; ++k)
    EXPECT_EQ(read_labels(ensemble_folder + "/" + case_id(k) + ".nii.gz"), tree.references[k]) << k;
  for (const char* file : {"summary.json", "plans.json", "dataset.json", "postprocessing.json"})
    EXPECT_TRUE(fs::is_regular_file(ensemble_folder + "/" + file)) << file;
  for (const char* configuration : {"2d", "3d_fullres"})
    for (const char* file : {"summary.json", "plans.json", "dataset.json", "case_004.nii.gz"})
      EXPECT_TRUE(fs::is_regular_file(tree.model(configuration) + "/crossval_results_folds_0_1_2_3_4/" + file))
          << configuration << " " << file;

  const nlohmann::ordered_json info = data::read_python_json_file(tree.results + "/inference_information.json");
  EXPECT_EQ(info.at("dataset_name_or_id"), "Dataset777_Select");
  EXPECT_EQ(info.at("folds"), nlohmann::ordered_json::parse("[0, 1, 2, 3, 4]"));
  EXPECT_EQ(info.at("ensembling_allowed"), true);
  EXPECT_EQ(info.at("considered_models").size(), 2u);
  EXPECT_EQ(info.at("all_results").at(ensemble), 1.0);
  const auto& best = info.at("best_model_or_ensemble");
  EXPECT_EQ(best.at("selected_model_or_models"),
            nlohmann::ordered_json::parse(
                R"([{"configuration": "2d", "plans_identifier": "nnUNetPlans", "trainer": "nnUNetTrainer"},
                    {"configuration": "3d_fullres", "plans_identifier": "nnUNetPlans", "trainer": "nnUNetTrainer"}])"));
  EXPECT_EQ(best.at("postprocessing_file"), ensemble_folder + "/postprocessing.json");
  EXPECT_EQ(best.at("some_plans_file"), ensemble_folder + "/plans.json");
  EXPECT_EQ(best.at("result_on_crossval_pre_pp"), 1.0);
  EXPECT_EQ(best.at("result_on_crossval_post_pp"), 1.0);

  const std::string instructions = data::read_file_text(tree.results + "/inference_instructions.txt");
  EXPECT_EQ(instructions, result.instructions);
  for (const std::string& text :
       {std::string("nnuc predict -d Dataset777_Select -i INPUT_FOLDER -o OUTPUT_FOLDER_MODEL_1 -f 0 1 2 3 4 "
                    "-tr nnUNetTrainer -c 2d -p nnUNetPlans --save-probabilities\n"),
        std::string("nnuc predict -d Dataset777_Select -i INPUT_FOLDER -o OUTPUT_FOLDER_MODEL_2 -f 0 1 2 3 4 "
                    "-tr nnUNetTrainer -c 3d_fullres -p nnUNetPlans --save-probabilities\n"),
        std::string("nnuc ensemble -i OUTPUT_FOLDER_MODEL_1 OUTPUT_FOLDER_MODEL_2 -o OUTPUT_FOLDER -np 8\n"),
        "nnuc postprocess -i OUTPUT_FOLDER -o OUTPUT_FOLDER_PP -pp " + ensemble_folder +
            "/postprocessing.json -np 8\n"})
    EXPECT_NE(instructions.find(text), std::string::npos) << text << "\nin:\n" << instructions;
  bool skipped_lowres = false;
  for (const std::string& line : lines)
    skipped_lowres = skipped_lowres || line.find("3d_lowres not found") != std::string::npos;
  EXPECT_TRUE(skipped_lowres);
}

TEST(ModelSelectionFindBest, TheBetterSingleModelWinsOverAConfidentlyWrongEnsemble) {
  // 2d is confidently wrong at its error voxels (weight 0.9), 3d_fullres errs at half of them: the
  // ensemble keeps all of 2d's errors, and 3d_fullres is the best.
  const ResultsTree tree([](std::int64_t i) { return i % 5 == 1; }, 0.9f, [](std::int64_t i) { return i % 10 == 1; },
                         0.5f);
  FindBestOptions options = tree.options();
  options.dataset_for_commands.clear();  // instructions name the model folder (-m)
  const FindBestResult result = find_best_configuration(options);
  ASSERT_EQ(result.entries.size(), 3u);
  const double dice_2d = expected_dice(tree.references, tree.predictions_2d);
  const double dice_3d = expected_dice(tree.references, tree.predictions_3d);
  const double dice_ensemble = expected_dice(tree.references, tree.predictions_ensemble);
  EXPECT_NEAR(result.entries[0].foreground_dice, dice_2d, 1e-12);
  EXPECT_NEAR(result.entries[1].foreground_dice, dice_3d, 1e-12);
  EXPECT_NEAR(result.entries[2].foreground_dice, dice_ensemble, 1e-12);
  ASSERT_GT(dice_3d, dice_ensemble);
  ASSERT_GT(dice_3d, dice_2d);
  EXPECT_EQ(result.best, 1u);
  EXPECT_EQ(result.information.at("best_model_or_ensemble").at("selected_model_or_models").size(), 1u);
  EXPECT_NE(result.instructions.find("nnuc predict -m " + tree.model("3d_fullres") +
                                     " -i INPUT_FOLDER -o OUTPUT_FOLDER -f 0 1 2 3 4\n"),
            std::string::npos)
      << result.instructions;
  EXPECT_EQ(result.instructions.find("nnuc ensemble"), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(tree.model("3d_fullres") + "/crossval_results_folds_0_1_2_3_4/postprocessing.json"));

  // Without ensembling only the singles are scored.
  options.allow_ensembling = false;
  EXPECT_EQ(find_best_configuration(options).entries.size(), 2u);
}

TEST(ModelSelectionFindBest, NamedConfigurationsWithoutResultsAndMissingNpzAreErrors) {
  const ResultsTree tree([](std::int64_t i) { return i % 5 == 1; }, 0.6f, [](std::int64_t i) { return i % 5 == 3; },
                         0.6f);
  FindBestOptions options = tree.options();
  options.configurations_given = true;  // the user named 3d_cascade_fullres: no results folder is an error
  EXPECT_ERROR_MENTIONS(find_best_configuration(options), "nnUNetTrainer__nnUNetPlans__3d_cascade_fullres");
  options = tree.options();
  fs::remove(tree.model("3d_fullres") + "/fold_2/validation/case_002.npz");
  EXPECT_ERROR_MENTIONS(find_best_configuration(options),
                        "no .npz probabilities in " + tree.model("3d_fullres") + "/fold_2/validation");
  EXPECT_FALSE(fs::exists(tree.results + "/inference_information.json"));
  EXPECT_FALSE(fs::exists(tree.results + "/inference_instructions.txt"));
}

TEST(ModelSelectionAccumulate, DuplicatedOrMissingFoldsAreErrorsNamingTheFolder) {
  const ResultsTree tree([](std::int64_t i) { return i % 5 == 1; }, 0.6f, [](std::int64_t i) { return i % 5 == 3; },
                         0.6f);
  const std::string model = tree.model("2d");
  const CrossvalResult ok = accumulate_crossval_results(model, {"0", "1", "2", "3", "4"}, tree.reference, "", 2);
  EXPECT_EQ(ok.folder, model + "/crossval_results_folds_0_1_2_3_4");
  EXPECT_NEAR(ok.foreground_dice, expected_dice(tree.references, tree.predictions_2d), 1e-12);
  EXPECT_ERROR_MENTIONS(accumulate_crossval_results(model, {"0", "1", "5"}, tree.reference, "", 2),
                        model + "/fold_5/validation");
  fs::copy_file(model + "/fold_0/validation/case_000.nii.gz", model + "/fold_1/validation/case_000.nii.gz");
  EXPECT_ERROR_MENTIONS(accumulate_crossval_results(model, {"0", "1", "2", "3", "4"}, tree.reference, "", 2),
                        "case_000.nii.gz");
  // The previous accumulation is left as it was.
  EXPECT_NEAR(data::foreground_mean_dice(data::read_summary(ok.folder + "/summary.json")), ok.foreground_dice, 0);
}

}  // namespace
}  // namespace nnuc::planner
