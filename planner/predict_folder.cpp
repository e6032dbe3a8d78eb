#include "planner/predict_folder.h"

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <regex>

#include "data/dataset/atomic_file.h"
#include "data/dataset/raw_dataset.h"
#include "data/export/export.h"
#include "data/export/npz.h"
#include "data/nifti/nifti_io.h"
#include "data/preprocess/nifti_case.h"
#include "planner/model_folder.h"

namespace nnuc::planner {

namespace fs = std::filesystem;

int PredictFolderResult::failed() const {
  int n = 0;
  for (const CaseReport& report : cases) n += report.ok ? 0 : 1;
  return n;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The cases of the input: a folder of channel files, or one image file (a case of one channel, its
// identifier the file name without the ending and without a trailing _XXXX channel number).
std::vector<data::RawCase> input_cases(const std::string& input, const std::string& file_ending) {
  if (fs::is_regular_file(input)) {
    const std::string name = fs::path(input).filename().string();
    NNUC_CHECK(name.size() > file_ending.size() &&
                   name.compare(name.size() - file_ending.size(), file_ending.size(), file_ending) == 0,
               "input file ", input, " does not end in the model's file ending ", file_ending);
    std::string identifier = name.substr(0, name.size() - file_ending.size());
    if (std::regex_match(identifier, std::regex(".*_[0-9]{4}"))) identifier.resize(identifier.size() - 5);
    return {data::RawCase{identifier, {input}, ""}};
  }
  if (!fs::is_directory(input)) NNUC_THROW(IoError, "input ", input, " is neither a folder nor a file");
  std::vector<data::RawCase> cases = data::find_prediction_cases(input, file_ending);
  NNUC_CHECK(!cases.empty(), "input folder ", input, " holds no case files CASE_XXXX", file_ending);
  return cases;
}

struct Prepared {
  data::PreprocessedCase preprocessed;
  std::string error;
  double seconds = 0;
};

Prepared prepare(const nn::PredictorSession& session, const data::RawCase& raw, const std::string& previous_stage) {
  Prepared out;
  const auto start = std::chrono::steady_clock::now();
  try {
    data::LoadedCase loaded = data::read_nifti_case(raw.id, raw.images, "");
    if (!previous_stage.empty()) {
      const std::string path = (fs::path(previous_stage) / (raw.id + session.model().spec().file_ending)).string();
      if (!fs::is_regular_file(path)) NNUC_THROW(IoError, "no previous-stage prediction ", path, " for case ", raw.id);
      data::NiftiLabel label = data::read_nifti_label(path);
      const Shape image_shape{loaded.image.dim(1), loaded.image.dim(2), loaded.image.dim(3)};
      NNUC_CHECK(label.labels.shape() == image_shape, "previous-stage prediction ", path, " has shape ",
                 label.labels.describe(), ", the image ", loaded.image.describe());
      loaded.seg = std::move(label.labels);
    }
    out.preprocessed = session.preprocess(loaded);
  } catch (const std::exception& error) {
    out.error = error.what();
  }
  out.seconds = seconds_since(start);
  return out;
}

void write_outputs(const std::string& output, const std::string& identifier, const std::string& file_ending,
                   const data::ExportedPrediction& exported, const data::CaseProperties& properties) {
  if (exported.probabilities.defined()) {
    data::write_npz((fs::path(output) / (identifier + ".npz")).string(), {{"probabilities", exported.probabilities}});
    data::write_file_atomic((fs::path(output) / (identifier + ".json")).string(),
                            data::case_properties_to_json(properties).dump(1) + "\n");
  }
  data::write_segmentation((fs::path(output) / (identifier + file_ending)).string(), exported.segmentation, properties);
}

bool outputs_exist(const std::string& output, const std::string& identifier, const std::string& file_ending,
                   bool probabilities) {
  if (!fs::is_regular_file(fs::path(output) / (identifier + file_ending))) return false;
  return !probabilities || fs::is_regular_file(fs::path(output) / (identifier + ".npz"));
}

// The sibling model folder of the previous stage: <trainer>__<plans>__<previous stage>.
std::string previous_stage_folder(const std::string& model_folder, const std::string& configuration,
                                  const std::string& previous_stage) {
  const fs::path folder = fs::path(model_folder).lexically_normal();
  const fs::path base = folder.filename().empty() ? folder.parent_path() : folder;
  std::string name = base.filename().string();
  const std::string suffix = "__" + configuration;
  NNUC_CHECK(name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0,
             "model folder ", model_folder, " of the cascade stage ", configuration,
             " is not named <trainer>__<plans>__", configuration, ", so the model folder of ", previous_stage,
             " cannot be found; predict it first and pass -prev_stage_predictions");
  name.replace(name.size() - suffix.size(), suffix.size(), "__" + previous_stage);
  return (base.parent_path() / name).string();
}

}  // namespace

PredictFolderResult predict_folder(
    const PredictFolderOptions& options,
    const std::function<void(const CaseReport&, std::size_t index, std::size_t total)>& on_case) {
  ModelFolderOptions folder_options;
  folder_options.folds = options.folds;
  folder_options.checkpoint = options.checkpoint;
  folder_options.configuration = options.configuration;
  nn::PredictorModelSpec spec = read_model_folder(options.model_folder, folder_options);
  PredictFolderResult result;
  result.configuration = spec.configuration;
  result.folds = spec.folds;

  std::vector<data::RawCase> cases = input_cases(options.input, spec.file_ending);
  std::vector<data::RawCase> part;
  for (std::size_t i = static_cast<std::size_t>(options.part_id); i < cases.size();
       i += static_cast<std::size_t>(options.num_parts))
    part.push_back(cases[i]);
  std::error_code error;
  fs::create_directories(options.output, error);
  if (error || !fs::is_directory(options.output))
    NNUC_THROW(IoError, "cannot create the output folder ", options.output, ": ", error.message());

  std::string previous_stage = options.previous_stage_predictions;
  if (!spec.previous_stage.empty() && previous_stage.empty()) {
    PredictFolderOptions stage = options;
    stage.model_folder = previous_stage_folder(options.model_folder, spec.configuration, spec.previous_stage);
    stage.configuration = spec.previous_stage;
    stage.output = (fs::path(options.output) / ("previous_stage_" + spec.previous_stage)).string();
    stage.options.save_probabilities = false;
    stage.checkpoint = options.checkpoint;
    const PredictFolderResult first = predict_folder(stage, on_case);
    NNUC_CHECK(first.failed() == 0, "the previous stage ", spec.previous_stage, " failed on ", first.failed(),
               " case(s); see its messages above");
    previous_stage = stage.output;
  }

  // The files nnU-Net writes beside its predictions.
  for (const char* file : {"plans.json", "dataset.json"})
    data::write_file_atomic((fs::path(options.output) / file).string(),
                            data::read_file_text((fs::path(options.model_folder) / file).string()));
  nlohmann::ordered_json arguments = {{"model_folder", options.model_folder},
                                      {"configuration", spec.configuration},
                                      {"folds", spec.folds},
                                      {"checkpoint", options.checkpoint},
                                      {"step_size", options.options.step_size},
                                      {"use_mirroring", options.options.use_mirroring},
                                      {"save_probabilities", options.options.save_probabilities},
                                      {"device", device_name(options.device)},
                                      {"previous_stage_predictions", previous_stage},
                                      {"num_parts", options.num_parts},
                                      {"part_id", options.part_id}};
  data::write_file_atomic((fs::path(options.output) / "predict_from_raw_data_args.json").string(),
                          arguments.dump(4) + "\n");

  const auto model = std::make_shared<const nn::PredictorModel>(std::move(spec), options.device);
  const nn::PredictorSession session(model, options.options);
  const std::string& ending = model->spec().file_ending;

  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < part.size(); ++i) {
    CaseReport report;
    report.identifier = part[i].id;
    if (options.resume && outputs_exist(options.output, part[i].id, ending, options.options.save_probabilities)) {
      report.ok = report.skipped = true;
    } else {
      todo.push_back(i);
    }
    result.cases.push_back(report);
  }

  // One case preprocessed ahead, one exported behind (sequential: neither).
  auto launch_prepare = [&](std::size_t k) {
    return std::async(std::launch::async, prepare, std::cref(session), std::cref(part[todo[k]]),
                      std::cref(previous_stage));
  };
  std::future<Prepared> next;
  if (!todo.empty() && !options.sequential) next = launch_prepare(0);
  std::future<void> exporting;
  std::optional<std::size_t> exporting_index;
  auto finish_export = [&]() {
    if (!exporting_index) return;
    CaseReport& report = result.cases[*exporting_index];
    try {
      exporting.get();
      report.ok = true;
    } catch (const std::exception& failure) {
      report.ok = false;
      report.error = failure.what();
    }
    if (on_case) on_case(report, *exporting_index, part.size());
    exporting_index.reset();
  };
  for (std::size_t i = 0; i < part.size(); ++i)
    if (result.cases[i].skipped && on_case) on_case(result.cases[i], i, part.size());
  for (std::size_t k = 0; k < todo.size(); ++k) {
    const std::size_t index = todo[k];
    if (options.sequential) {
      finish_export();
      next = launch_prepare(k);
    }
    Prepared prepared = next.get();
    if (k + 1 < todo.size() && !options.sequential) next = launch_prepare(k + 1);
    CaseReport& report = result.cases[index];
    report.preprocess_seconds = prepared.seconds;
    if (!prepared.error.empty()) {
      finish_export();
      report.error = prepared.error;
      if (on_case) on_case(report, index, part.size());
      continue;
    }
    Tensor logits;
    try {
      const auto start = std::chrono::steady_clock::now();
      nn::SlidingWindowStats stats;
      logits = session.logits(prepared.preprocessed.data, &stats);
      report.network_seconds = seconds_since(start);
      report.tiles = stats.tiles;
    } catch (const std::exception& failure) {
      finish_export();
      report.error = failure.what();
      if (on_case) on_case(report, index, part.size());
      continue;
    }
    finish_export();
    auto properties = std::make_shared<data::CaseProperties>(std::move(prepared.preprocessed.properties));
    const data::ExportPlan& plan = model->spec().export_plan;
    const bool probabilities = options.options.save_probabilities;
    const std::string identifier = report.identifier, output = options.output;
    exporting = std::async(
        std::launch::async, [&report, logits, properties, &plan, probabilities, identifier, output, ending]() {
          const auto start = std::chrono::steady_clock::now();
          const data::ExportedPrediction exported = data::export_prediction(logits, *properties, plan, probabilities);
          write_outputs(output, identifier, ending, exported, *properties);
          report.export_seconds = seconds_since(start);
        });
    exporting_index = index;
  }
  finish_export();
  return result;
}

}  // namespace nnuc::planner
