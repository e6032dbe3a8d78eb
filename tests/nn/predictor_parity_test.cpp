// nnuc's whole prediction path against nnU-Net's own predictor, on model folders saved by nnU-Net
// (tests/nn/fixtures/gen_nnunet_predict_parity.py -> tests/nn/fixtures/nnunet_predict/, nnunetv2 2.8.1):
// nnUNetPredictor(step 0.5, Gaussian, CPU).predict_from_files(save_probabilities=True) with NibabelIO,
// two folds with different weights, 3d_fullres (transpose_forward (2, 0, 1), separate-z resampling,
// padding) and 2d, mirroring on and off, three raw cases with zeros around the body.
//
// End to end (planner::predict_folder into a temp folder) the probabilities, the label maps and the
// output geometry are compared; the stages are also compared one by one on nnU-Net's intermediates
// (its DefaultPreprocessor output and its fold-averaged logits), so that a difference can be placed.
//
// nnU-Net accumulates the Gaussian-weighted tiles in fp16 buffers, nnuc in f32. The fixture therefore
// also holds nnU-Net's predictions with those two buffers made float32 ("nnU-Net f32", the only
// change), and nnuc matches that to float rounding at every stage. What remains against nnU-Net
// itself is nnU-Net's own fp16 rounding:
// - in the interior, fp16 rounding of the sums (logits differ by up to ~1e-2);
// - at voxels only the corners of tiles reach, the Gaussian is fp16's smallest subnormal there
//   (3d patch (4, 16, 12): 2^-24 = 6e-8; 2d (16, 12): 1.1e-6), so logit * Gaussian and the weight
//   sum are quantized to multiples of 2^-24 and the quotient comes out as 0.5, 0.75, 1.0...: logits off
//   by up to 0.45, probabilities by up to 0.13, and 0.07-0.16 % of the 3d label maps' voxels get
//   another label (every logit beyond fp16 rounding is at a voxel whose Gaussian weight sum is
//   <= 2e-6; the 2d patch's larger corner value keeps its differences at 0.023);
// - nnU-Net resamples the fp16 logits into an fp16 array before the softmax (resample_data_or_seg
//   keeps the input dtype): probabilities off by up to 5e-4 from that alone.
// Preprocessing is bit-identical.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "data/export/export.h"
#include "data/export/npz.h"
#include "data/nifti/nifti_io.h"
#include "data/preprocess/nifti_case.h"
#include "nn/predict/predictor.h"
#include "planner/model_folder.h"
#include "planner/predict_folder.h"
#include "tests/support/test_support.h"

namespace nnuc::planner {
namespace {

namespace fs = std::filesystem;

// ---- tolerances (measured: this fixture, nnunetv2 2.8.1, torch 2.15 CPU, nnuc CPU f32) --------------
//
// Against nnU-Net f32 every comparison is tight. Against nnU-Net itself each element may differ by at
// most nnU-Net's own fp16 effect |nnU-Net f32 - nnU-Net| plus the same tight tolerance.

// Preprocessed data vs DefaultPreprocessor: measured 0 (bit-identical) for every case and configuration.
constexpr double kPreprocessTolerance = 1e-6;
// Fold-averaged logits vs nnU-Net f32: |diff| <= atol + rtol * |nnU-Net f32|; measured max 1.1e-5 (3d),
// 2.0e-5 (2d) (f32 networks: summation order, tests/nn/pth_reader_test.cpp). Against nnU-Net: max 0.45
// (3d), 0.023 (2d), equal to nnU-Net's own |f32 - fp16|.
constexpr double kLogitsAtol = 1e-4, kLogitsRtol = 1e-4;
// Export of nnU-Net's own logits: f32 logits -> probabilities within data::kExportProbabilityTolerance
// (1e-6; measured 1.2e-7); fp16 logits -> within kExportFp16Tolerance (measured 4.6e-4), because nnU-Net
// rounds the resampled logits to fp16 before the softmax.
constexpr double kExportFp16Tolerance = 1e-3;
// End to end vs nnU-Net f32: probabilities max |diff|; measured 2.2e-6 (3d), 3.2e-6 (2d), mean <= 1.3e-7.
// Against nnU-Net: max 0.131 (3d, corner voxels, see above), 5.8e-3 (2d).
constexpr double kProbabilityTolerance = 1e-4;
// End to end vs nnU-Net: mean |diff| over all probabilities of a case; measured 3.4e-4 (3d), 4.1e-5 (2d).
constexpr double kProbabilityMeanTolerance = 1e-3;
// Label maps vs nnU-Net f32: at most kSegmentationFraction of a case's voxels may differ, and only where
// nnU-Net f32's two largest probabilities are within kSegmentationMargin (with every probability within
// kProbabilityTolerance no other voxel can change its argmax); measured: no voxel differs.
// Against nnU-Net: at most kSegmentationFractionFp16, and each differing voxel must be a near tie as
// above or one where nnU-Net f32's label differs from nnU-Net's too; measured at most 9 voxels, 0.156 %
// (3d), 1 voxel, 0.031 % (2d), all of them of the second kind.
constexpr double kSegmentationFraction = 1e-3;
constexpr double kSegmentationMargin = 2 * kProbabilityTolerance;
constexpr double kSegmentationFractionFp16 = 5e-3;

fs::path fixtures() { return fs::path(__FILE__).parent_path() / "fixtures" / "nnunet_predict"; }

const nlohmann::json& manifest() {
  static const nlohmann::json json = [] {
    std::ifstream in(fixtures() / "manifest.json");
    return nlohmann::json::parse(in);
  }();
  return json;
}

const nlohmann::json& configuration_entry(const std::string& configuration) {
  return manifest()["configurations"][configuration];
}

std::string model_folder(const std::string& configuration) {
  return (fixtures() / configuration_entry(configuration)["model_folder"].get<std::string>()).string();
}

std::vector<std::string> identifiers() {
  std::vector<std::string> out;
  for (const auto& c : manifest()["cases"]) out.push_back(c["identifier"].get<std::string>());
  return out;
}

std::vector<std::string> image_files(const std::string& identifier) {
  const fs::path input = fixtures() / manifest()["input"].get<std::string>();
  return {(input / (identifier + "_0000.nii.gz")).string(), (input / (identifier + "_0001.nii.gz")).string()};
}

fs::path reference(const std::string& configuration, const std::string& kind) {
  return fixtures() / configuration_entry(configuration)["reference"][kind].get<std::string>();
}

Tensor npz(const fs::path& file, const std::string& member) {
  return data::read_npz_array(file.string(), member, {true});
}

std::vector<std::int64_t> ints(const fs::path& file, const std::string& member) {
  const Tensor values = data::read_npz_array(file.string(), member);
  EXPECT_EQ(values.dtype(), DType::i64) << member;
  return values.dtype() == DType::i64 ? values.to_vector<std::int64_t>() : std::vector<std::int64_t>{};
}

// One CPU model per configuration, read once.
std::shared_ptr<const nn::PredictorModel> model(const std::string& configuration) {
  static std::map<std::string, std::shared_ptr<const nn::PredictorModel>> models;
  auto& slot = models[configuration];
  if (!slot)
    slot = std::make_shared<const nn::PredictorModel>(read_model_folder(model_folder(configuration)), Device::CPU);
  return slot;
}

struct Stats {
  double max_abs = 0, mean_abs = 0;
  std::int64_t worst = -1;
};

Stats difference(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(actual.shape(), expected.shape());
  Stats stats;
  if (actual.shape() != expected.shape()) return stats;
  const std::vector<float> a = actual.to_vector<float>(), e = expected.to_vector<float>();
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - e[i]);
    sum += d;
    if (d > stats.max_abs) stats.max_abs = d, stats.worst = static_cast<std::int64_t>(i);
  }
  stats.mean_abs = a.empty() ? 0 : sum / static_cast<double>(a.size());
  return stats;
}

void report(const std::string& what, double value) {
  ::testing::Test::RecordProperty(what, std::to_string(value));
  std::printf("[ parity   ] %-52s %.3g\n", what.c_str(), value);
}

class TempFolder {
 public:
  TempFolder() {
    static int made = 0;  // several folders may be alive at once
    path_ = fs::temp_directory_path() / ("nnuc_predictor_parity_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(testing::test_seed()) + "_" + std::to_string(made++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class PredictorParity : public ::testing::TestWithParam<std::string> {};

// ---- the model folder as nnU-Net reads it ----------------------------------------------------------

TEST_P(PredictorParity, ReadsTheModelFolderAsNnunet) {
  const std::string configuration = GetParam();
  const nn::PredictorModelSpec& spec = model(configuration)->spec();
  EXPECT_EQ(spec.configuration, configuration);
  EXPECT_EQ(spec.folds, configuration_entry(configuration)["folds"].get<std::vector<std::string>>());
  EXPECT_EQ(spec.mirror_axes, configuration_entry(configuration)["mirror_axes"].get<std::vector<int>>());
  EXPECT_EQ(spec.trainer_name, "nnUNetTrainer");
  EXPECT_EQ(spec.is_2d, configuration == "2d");
  EXPECT_EQ(spec.image_channels, 2);
  EXPECT_EQ(spec.network.num_classes, 3);
  EXPECT_EQ(spec.preprocessing.transpose_forward, (std::array<int, 3>{2, 0, 1}));
  EXPECT_EQ(spec.export_plan.transpose_backward, (std::array<int, 3>{1, 2, 0}));
  // The folds hold different weights (fold averaging is exercised): their logits differ.
  const std::vector<nn::UNet*> networks = model(configuration)->networks();
  ASSERT_EQ(networks.size(), 2u);
  const Tensor data = npz(reference(configuration, "intermediate") / (identifiers()[0] + ".npz"), "data");
  nn::SlidingWindowOptions window;
  window.patch = spec.patch;
  window.is_2d = spec.is_2d;
  window.use_mirroring = false;
  const Tensor first = nn::predict_sliding_window(Context::cpu(), {networks[0]}, data, window);
  const Tensor second = nn::predict_sliding_window(Context::cpu(), {networks[1]}, data, window);
  EXPECT_GT(difference(first, second).max_abs, 0.5);
}

// ---- stage by stage, on nnU-Net's intermediates -----------------------------------------------------

TEST_P(PredictorParity, PreprocessingMatchesDefaultPreprocessor) {
  const std::string configuration = GetParam();
  const nn::PredictorSession session(model(configuration));
  for (const std::string& id : identifiers()) {
    SCOPED_TRACE(id);
    const fs::path file = reference(configuration, "intermediate") / (id + ".npz");
    const data::PreprocessedCase mine = session.preprocess(data::read_nifti_case(id, image_files(id), ""));
    const std::vector<std::int64_t> bbox = ints(file, "bbox");  // [[begin, end] x 3]
    ASSERT_EQ(bbox.size(), 6u);
    for (std::size_t axis = 0; axis < 3; ++axis) {
      EXPECT_EQ(mine.properties.bbox_used_for_cropping.begin[axis], bbox[2 * axis]) << "axis " << axis;
      EXPECT_EQ(mine.properties.bbox_used_for_cropping.end[axis], bbox[2 * axis + 1]) << "axis " << axis;
    }
    const std::vector<std::int64_t> before = ints(file, "shape_before_cropping");
    const std::vector<std::int64_t> after = ints(file, "shape_after_cropping_and_before_resampling");
    ASSERT_EQ(before.size(), 3u);
    ASSERT_EQ(after.size(), 3u);
    for (std::size_t axis = 0; axis < 3; ++axis) {
      EXPECT_EQ(mine.properties.shape_before_cropping[axis], before[axis]);
      EXPECT_EQ(mine.properties.shape_after_cropping_and_before_resampling[axis], after[axis]);
    }
    const Stats stats = difference(mine.data, npz(file, "data"));
    report(configuration + " " + id + " preprocessed max|diff|", stats.max_abs);
    EXPECT_LE(stats.max_abs, kPreprocessTolerance) << "worst element " << stats.worst;
  }
}

// |actual - expected| <= |f32 - expected| + atol + rtol * |f32| element by element: nnuc differs from
// nnU-Net by no more than nnU-Net's fp16 buffers make nnU-Net differ from itself (f32 = nnU-Net f32).
::testing::AssertionResult within_nnunets_own_rounding(const Tensor& actual, const Tensor& expected, const Tensor& f32,
                                                       double atol, double rtol) {
  if (actual.shape() != expected.shape() || f32.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shapes differ";
  const std::vector<float> a = actual.to_vector<float>(), e = expected.to_vector<float>(), f = f32.to_vector<float>();
  std::int64_t beyond = 0, first = -1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double bound = std::abs(static_cast<double>(f[i]) - e[i]) + atol + rtol * std::abs(static_cast<double>(f[i]));
    if (std::abs(static_cast<double>(a[i]) - e[i]) > bound) {
      if (first < 0) first = static_cast<std::int64_t>(i);
      ++beyond;
    }
  }
  if (beyond == 0) return ::testing::AssertionSuccess();
  const std::size_t i = static_cast<std::size_t>(first);
  return ::testing::AssertionFailure() << beyond << " elements beyond nnU-Net's own fp16 difference + " << atol << " + "
                                       << rtol << " |nnU-Net f32|"
                                       << "; first at " << first << ": nnuc " << a[i] << ", nnU-Net " << e[i]
                                       << ", nnU-Net f32 " << f[i];
}

std::string mode(bool mirroring) { return mirroring ? "mirror" : "nomirror"; }

TEST_P(PredictorParity, LogitsMatchOnNnunetsPreprocessedData) {
  const std::string configuration = GetParam();
  for (const bool mirroring : {true, false}) {
    nn::PredictOptions options;
    options.use_mirroring = mirroring;
    const nn::PredictorSession session(model(configuration), options);
    for (const std::string& id : identifiers()) {
      const std::string name = configuration + " " + mode(mirroring) + " " + id;
      SCOPED_TRACE(name);
      const fs::path file = reference(configuration, "intermediate") / (id + ".npz");
      const Tensor fp16 = npz(file, "logits_" + mode(mirroring));
      const Tensor f32 = npz(file, "logits_" + mode(mirroring) + "_f32buffers");
      const Tensor actual = session.logits(npz(file, "data"));
      report(name + " logits max|diff| vs nnU-Net f32", difference(actual, f32).max_abs);
      report(name + " logits max|diff| vs nnU-Net", difference(actual, fp16).max_abs);
      report(name + " logits max|nnU-Net f32 - nnU-Net|", difference(f32, fp16).max_abs);
      EXPECT_TRUE(testing::all_close(actual, f32, kLogitsAtol, kLogitsRtol));
      EXPECT_TRUE(within_nnunets_own_rounding(actual, fp16, f32, kLogitsAtol, kLogitsRtol));
    }
  }
}

TEST_P(PredictorParity, ExportOfNnunetsLogitsMatches) {
  const std::string configuration = GetParam();
  const nn::PredictorSession session(model(configuration));
  for (const bool mirroring : {true, false}) {
    for (const std::string& id : identifiers()) {
      const data::PreprocessedCase mine = session.preprocess(data::read_nifti_case(id, image_files(id), ""));
      for (const bool f32_buffers : {true, false}) {
        const std::string kind = mode(mirroring) + (f32_buffers ? "_f32buffers" : "");
        const std::string name = configuration + " " + kind + " " + id;
        SCOPED_TRACE(name);
        const Tensor logits = npz(reference(configuration, "intermediate") / (id + ".npz"), "logits_" + kind);
        const data::ExportedPrediction exported =
            data::export_prediction(logits, mine.properties, model(configuration)->spec().export_plan, true);
        const Tensor expected = npz(reference(configuration, kind) / (id + ".npz"), "probabilities");
        const Stats stats = difference(exported.probabilities, expected);
        report(name + " export max|diff|", stats.max_abs);
        EXPECT_LE(stats.max_abs, f32_buffers ? data::kExportProbabilityTolerance : kExportFp16Tolerance)
            << "worst element " << stats.worst;
      }
    }
  }
}

// ---- end to end: planner::predict_folder vs predict_from_files --------------------------------------

void expect_same_affine(const data::NiftiGeometry& actual, const data::NiftiGeometry& expected, double tolerance) {
  EXPECT_EQ(actual.shape(), expected.shape());
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      EXPECT_NEAR(actual.affine[r][c], expected.affine[r][c], tolerance) << "affine[" << r << "][" << c << "]";
}

// The gap between the two largest of the K probabilities (K, voxels) at voxel v.
double top_two_margin(const std::vector<float>& p, std::int64_t voxels, std::int64_t classes, std::int64_t v) {
  float first = -1, second = -1;
  for (std::int64_t k = 0; k < classes; ++k) {
    const float value = p[static_cast<std::size_t>(k * voxels + v)];
    if (value > first)
      second = first, first = value;
    else if (value > second)
      second = value;
  }
  return static_cast<double>(first) - second;
}

struct CaseOutputs {
  Tensor probabilities;  // f32 (K, a0, a1, a2)
  data::NiftiLabel labels;
};

CaseOutputs outputs_in(const fs::path& folder, const std::string& id) {
  return {npz(folder / (id + ".npz"), "probabilities"), data::read_nifti_label((folder / (id + ".nii.gz")).string())};
}

TEST_P(PredictorParity, PredictFolderMatchesPredictFromFiles) {
  const std::string configuration = GetParam();
  for (const bool mirroring : {true, false}) {
    TempFolder output;
    PredictFolderOptions options;
    options.input = (fixtures() / manifest()["input"].get<std::string>()).string();
    options.output = output.path().string();
    options.model_folder = model_folder(configuration);
    options.options.use_mirroring = mirroring;
    options.options.save_probabilities = true;
    const PredictFolderResult result = predict_folder(options);
    ASSERT_EQ(result.failed(), 0) << (result.cases.empty() ? "" : result.cases[0].error);
    EXPECT_EQ(result.folds, (std::vector<std::string>{"0", "1"}));
    ASSERT_EQ(result.cases.size(), identifiers().size());

    for (const std::string& id : identifiers()) {
      const std::string name = configuration + " " + mode(mirroring) + " " + id;
      SCOPED_TRACE(name);
      const CaseOutputs ours = outputs_in(output.path(), id);
      const CaseOutputs theirs = outputs_in(reference(configuration, mode(mirroring)), id);
      const CaseOutputs theirs_f32 = outputs_in(reference(configuration, mode(mirroring) + "_f32buffers"), id);

      // Probabilities.
      const Stats f32 = difference(ours.probabilities, theirs_f32.probabilities);
      const Stats fp16 = difference(ours.probabilities, theirs.probabilities);
      report(name + " probabilities max|diff| vs nnU-Net f32", f32.max_abs);
      report(name + " probabilities mean|diff| vs nnU-Net f32", f32.mean_abs);
      report(name + " probabilities max|diff| vs nnU-Net", fp16.max_abs);
      report(name + " probabilities mean|diff| vs nnU-Net", fp16.mean_abs);
      EXPECT_LE(f32.max_abs, kProbabilityTolerance) << "worst element " << f32.worst;
      EXPECT_TRUE(within_nnunets_own_rounding(ours.probabilities, theirs.probabilities, theirs_f32.probabilities,
                                              kProbabilityTolerance, 0.0));
      EXPECT_LE(fp16.mean_abs, kProbabilityMeanTolerance);

      // Label maps.
      ASSERT_EQ(ours.labels.labels.shape(), theirs.labels.labels.shape());
      ASSERT_EQ(ours.labels.labels.shape(), theirs_f32.labels.labels.shape());
      const std::vector<std::int16_t> a = ours.labels.labels.to_vector<std::int16_t>();
      const std::vector<std::int16_t> e = theirs.labels.labels.to_vector<std::int16_t>();
      const std::vector<std::int16_t> f = theirs_f32.labels.labels.to_vector<std::int16_t>();
      const std::vector<float> p = theirs_f32.probabilities.to_vector<float>();
      const std::int64_t voxels = static_cast<std::int64_t>(a.size()), classes = theirs.probabilities.dim(0);
      ASSERT_EQ(theirs_f32.probabilities.numel(), voxels * classes);
      std::int64_t differing_f32 = 0, differing = 0, unexplained = 0, labelled = 0;
      double widest_margin = 0;
      for (std::int64_t v = 0; v < voxels; ++v) {
        const std::size_t i = static_cast<std::size_t>(v);
        labelled += e[i] != 0;
        const double margin = a[i] != f[i] || a[i] != e[i] ? top_two_margin(p, voxels, classes, v) : 0.0;
        if (a[i] != f[i]) ++differing_f32, widest_margin = std::max(widest_margin, margin);
        if (a[i] != e[i]) {
          ++differing;
          if (f[i] == e[i] && margin > kSegmentationMargin) ++unexplained;
        }
      }
      report(name + " label voxels differing from nnU-Net f32", static_cast<double>(differing_f32));
      report(name + " label voxels differing from nnU-Net", static_cast<double>(differing));
      report(name + " label fraction differing from nnU-Net",
             static_cast<double>(differing) / static_cast<double>(voxels));
      EXPECT_GT(labelled, voxels / 10);  // the label maps are not empty
      EXPECT_LE(static_cast<double>(differing_f32), kSegmentationFraction * static_cast<double>(voxels));
      EXPECT_LE(widest_margin, kSegmentationMargin);
      EXPECT_LE(static_cast<double>(differing), kSegmentationFractionFp16 * static_cast<double>(voxels));
      EXPECT_EQ(unexplained, 0);

      // Geometry: exactly the input's header (nnuc); the input's affine (both).
      const data::NiftiGeometry input = data::read_nifti(image_files(id)[0]).geometry;
      EXPECT_TRUE(data::same_header_geometry(ours.labels.geometry, input));
      expect_same_affine(ours.labels.geometry, input, 0.0);
      expect_same_affine(theirs.labels.geometry, input, 1e-5);
      EXPECT_EQ(ours.probabilities.shape(), (Shape{classes, input.shape()[0], input.shape()[1], input.shape()[2]}));
    }

    // --sequential: one case at a time, byte for byte the same files.
    TempFolder sequential_output;
    options.output = sequential_output.path().string();
    options.sequential = true;
    ASSERT_EQ(predict_folder(options).failed(), 0);
    for (const std::string& id : identifiers())
      for (const std::string ending : {".nii.gz", ".npz", ".json"}) {
        SCOPED_TRACE(id + ending);
        EXPECT_EQ(file_bytes(sequential_output.path() / (id + ending)), file_bytes(output.path() / (id + ending)));
      }
  }
}

INSTANTIATE_TEST_SUITE_P(NnunetModels, PredictorParity, ::testing::Values("3d_fullres", "2d"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param == "2d" ? std::string("TwoD") : std::string("ThreeDFullres");
                         });

}  // namespace
}  // namespace nnuc::planner
