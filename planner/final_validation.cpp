#include "planner/final_validation.h"

#include <cstdio>
#include <filesystem>

#include "data/dataset/atomic_file.h"
#include "data/evaluation/metrics.h"
#include "data/export/export.h"
#include "data/export/npz.h"
#include "data/preprocess/resample.h"
#include "data/preprocess/store.h"
#include "planner/model_folder.h"

namespace nnuc::planner {

namespace fs = std::filesystem;

namespace {

std::string format_dice(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", value);
  return text;
}

// The lowres logits resampled to the next stage's preprocessed shape (spacing: this stage's for both
// current and new, as nnU-Net passes them), then argmax: the next stage's previous-stage segmentation.
Tensor next_stage_segmentation(const Tensor& logits, const data::Shape3& target, const std::vector<double>& spacing,
                               const data::ResamplingOptions& resampling) {
  data::Spacing3 s{};
  for (int a = 0; a < 3; ++a) s[a] = spacing[spacing.size() == 3 ? a : std::max(0, a - 1)];
  const Tensor resampled = data::resample_data(logits, target, s, s, resampling);
  const std::int64_t channels = resampled.dim(0), voxels = resampled.numel() / channels;
  Tensor seg = Tensor::empty_cpu(Shape{target[0], target[1], target[2]}, DType::i16);
  const float* p = resampled.data<float>();
  std::int16_t* out = seg.data<std::int16_t>();
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < voxels; ++i) {
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < channels; ++c)
      if (p[c * voxels + i] > p[best * voxels + i]) best = c;
    out[i] = static_cast<std::int16_t>(best);
  }
  return seg;
}

// predicted_next_stage/<next stage>/CASE.nnuc: the segmentation at the shape of the next stage's
// preprocessed case `target_file`, with its properties (no class locations) and a zero data channel.
void write_next_stage_case(const Tensor& logits, const std::string& identifier, const fs::path& target_file,
                           const fs::path& next_stage_folder, const data::ExportPlan& export_plan) {
  const data::PreprocessedCaseFile target = data::PreprocessedCaseFile::open(target_file.string());
  const data::StoredArray target_seg = target.seg();
  const data::Shape3 shape{target_seg.shape[0], target_seg.shape[1], target_seg.shape[2]};
  data::PreprocessedCase next;
  next.identifier = identifier;
  next.seg =
      next_stage_segmentation(logits, shape, export_plan.configuration_spacing, export_plan.probabilities_resampling);
  next.data = Tensor::empty_cpu(Shape{1, shape[0], shape[1], shape[2]}, DType::f32);
  std::fill(next.data.data<float>(), next.data.data<float>() + next.data.numel(), 0.0f);
  next.properties = target.properties();
  next.properties.class_locations.clear();
  next.properties.has_class_locations = false;
  data::write_preprocessed_case((next_stage_folder / (identifier + data::kStoreFileEnding)).string(), next);
}

}  // namespace

FinalValidationResult run_final_validation(const TrainingSetup& setup, const TrainingSetupOptions& training,
                                           const FinalValidationOptions& options,
                                           const std::function<void(const std::string&)>& log) {
  const auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  ModelFolderOptions folder_options;
  folder_options.folds = {training.fold};
  folder_options.checkpoint = options.checkpoint;
  folder_options.configuration = training.configuration;
  folder_options.in_memory_fold = options.weights;
  auto model =
      std::make_shared<const nn::PredictorModel>(read_model_folder(setup.output_base, folder_options), options.device);
  nn::PredictOptions predict_options;
  predict_options.save_probabilities = options.save_probabilities;
  predict_options.mixed_precision = options.mixed_precision;
  const nn::PredictorSession session(model, predict_options);
  const nn::PredictorModelSpec& spec = model->spec();

  FinalValidationResult result;
  result.validation_folder = (fs::path(setup.fold_folder) / "validation").string();
  fs::create_directories(result.validation_folder);
  const std::string& ending = spec.file_ending;

  // Cascade inputs: the previous stage's segmentation of each validation case.
  const bool cascade = !spec.previous_stage.empty();
  const std::string next_stage = setup.configuration.plan.next_stage;
  fs::path next_stage_folder, next_stage_data;
  std::string next_stage_preprocessing;  // the nnuc plan -c that writes next_stage_data
  if (!next_stage.empty()) {
    next_stage_folder = fs::path(setup.output_base) / "predicted_next_stage" / next_stage;
    const ResolvedConfiguration& next = setup.plans.configuration(next_stage);
    next_stage_data = fs::path(training.preprocessed_folder) / next.plan.data_identifier;
    next_stage_preprocessing = preprocessing_configuration(setup.plans, next_stage);
    fs::create_directories(next_stage_folder);
  }

  const std::vector<std::string>& cases = setup.pipeline.validation_cases;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const data::PreprocessedCaseFile file = data::PreprocessedCaseFile::open(cases[i]);
    const std::string identifier = file.identifier();
    Tensor input = file.load_data();
    if (cascade) {
      const data::PreviousStageSegmentation previous = setup.pipeline.previous_stage_validation(i, identifier);
      Tensor seg = Tensor::empty_cpu(Shape{previous.shape[0], previous.shape[1], previous.shape[2]}, DType::i16);
      std::copy(previous.values, previous.values + seg.numel(), seg.data<std::int16_t>());
      input = nn::append_one_hot(input, seg, spec.previous_stage_labels);
    }
    nn::SlidingWindowStats stats;
    const Tensor logits = session.logits(input, &stats);
    const data::ExportedPrediction exported =
        data::export_prediction(logits, file.properties(), spec.export_plan, options.save_probabilities);
    const fs::path folder(result.validation_folder);
    if (exported.probabilities.defined()) {
      data::write_npz((folder / (identifier + ".npz")).string(), {{"probabilities", exported.probabilities}});
      data::write_file_atomic((folder / (identifier + ".json")).string(),
                              data::case_properties_to_json(file.properties()).dump(1) + "\n");
    }
    data::write_segmentation((folder / (identifier + ending)).string(), exported.segmentation, file.properties());
    if (!next_stage.empty()) {
      const fs::path target_file = next_stage_data / (identifier + data::kStoreFileEnding);
      if (fs::is_regular_file(target_file)) {
        write_next_stage_case(logits, identifier, target_file, next_stage_folder, spec.export_plan);
        ++result.next_stage_cases;
      } else {  // as nnU-Net: validation goes on; the next stage's training names the missing file
        say("Predicting next stage " + next_stage + " failed for case " + identifier + ": its preprocessed case " +
            target_file.string() + " is missing (run nnuc plan with -c " + next_stage_preprocessing + " first)");
      }
    }
    ++result.cases;
    say("validation case " + std::to_string(i + 1) + "/" + std::to_string(cases.size()) + " " + identifier + ": " +
        std::to_string(stats.tiles) + " tiles");
  }

  const std::string reference = (fs::path(training.preprocessed_folder) / "gt_segmentations").string();
  const std::vector<data::LabelOrRegion> items = data::labels_or_regions_from_dataset(setup.dataset);
  const nlohmann::ordered_json summary = data::evaluate_folders(
      reference, result.validation_folder, items, setup.dataset.ignore_label(), ending, options.threads,
      /*chill: the fold predicts its validation cases only*/ true);
  result.summary_file = (fs::path(result.validation_folder) / "summary.json").string();
  data::write_summary(result.summary_file, summary);
  result.mean_foreground_dice = data::foreground_mean_dice(summary);
  say("Mean Validation Dice:  " + format_dice(result.mean_foreground_dice));
  return result;
}

}  // namespace nnuc::planner
