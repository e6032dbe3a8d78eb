// Prediction of a folder of raw cases with a model folder (nnU-Net's predict_from_files): case
// discovery (§8.2), the predictor (nn/predict/predictor.h) over every case, outputs written atomically
// with each input's geometry, the files nnU-Net writes beside them (plans.json, dataset.json,
// predict_from_raw_data_args.json). Reading + preprocessing of the next case and the export of the
// previous one run in other threads while the network predicts the current case.
//
// A case that fails (unreadable file, wrong channel count, ...) is recorded with its message and the
// others go on. 3d_cascade_fullres without previous-stage predictions first predicts the previous
// stage's model folder (a sibling <trainer>__<plans>__3d_lowres) into OUTPUT/previous_stage_<config>/.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nn/predict/predictor.h"

namespace nnuc::planner {

struct PredictFolderOptions {
  std::string input;   // a folder of CASE_XXXX<file_ending> files, or one image file
  std::string output;  // created when missing
  std::string model_folder;
  std::string configuration;       // empty: from the checkpoint / folder name
  std::vector<std::string> folds;  // empty: every fold with the checkpoint
  std::string checkpoint = "checkpoint_final";
  std::string previous_stage_predictions;  // cascade: folder of the previous stage's CASE<file_ending>
  Device device = Device::CPU;
  nn::PredictOptions options;
  bool resume = false;  // skip cases whose outputs exist
  int num_parts = 1, part_id = 0;
  // One case at a time (read and preprocess, network, export, then the next case) instead of reading
  // the next case and exporting the previous one while the network runs: the least host memory for
  // large volumes (one case's buffers instead of up to three), the same outputs.
  bool sequential = false;
};

struct CaseReport {
  std::string identifier;
  bool ok = false;
  bool skipped = false;  // resume: outputs existed
  std::string error;     // when !ok
  double preprocess_seconds = 0, network_seconds = 0, export_seconds = 0;
  std::int64_t tiles = 0;
};

struct PredictFolderResult {
  std::vector<CaseReport> cases;  // in case order
  std::string configuration;
  std::vector<std::string> folds;
  int failed() const;
};

// `on_case` (optional) is called from the calling thread for each case: first for the cases skipped
// by resume, then for the others in order as each finishes.
// Throws (InvalidInput / IoError) for problems before any case runs: no model, no cases, an output
// folder that cannot be made; per-case problems go into the result instead.
PredictFolderResult predict_folder(
    const PredictFolderOptions& options,
    const std::function<void(const CaseReport&, std::size_t index, std::size_t total)>& on_case = nullptr);

}  // namespace nnuc::planner
