// Reading a trained model folder (spec §8.1, Appendix B) into what the predictor needs:
//   MODEL/ plans.json dataset.json fold_k/checkpoint_final.{nnuc,pth}
// written by nnuc train (checkpoint_*.nnuc) or by nnU-Net v2 itself (checkpoint_*.pth, read with
// nn/pth/pth_reader.h: a zip archive and a validated subset of pickle, never executed).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "data/export/export.h"
#include "data/preprocess/preprocess_case.h"
#include "nn/predict/predictor.h"
#include "planner/plans_read.h"

namespace nnuc::planner {

// One fold's weights (nnuc parameter names, host f32) and what its checkpoint says about prediction.
struct FoldWeights {
  std::vector<std::pair<std::string, Tensor>> weights;
  std::vector<int> mirror_axes;  // inference_allowed_mirroring_axes
  bool has_mirror_axes = false;  // false: the plans' rule (nn::inference_mirror_axes)
  std::string trainer_name;
};

struct ModelFolderOptions {
  std::vector<std::string> folds;               // empty: every fold_* folder holding the checkpoint
  std::string checkpoint = "checkpoint_final";  // nnU-Net's -chk; ".nnuc" is tried before ".pth" when
                                                // the name has no extension
  std::string configuration;                    // empty: from the checkpoint, else the folder's name
  // The weights of the one fold in `folds`, already in memory (the final validation of
  // nnuc train --disable_checkpointing): no checkpoint is looked for or read; `configuration` is required.
  std::optional<FoldWeights> in_memory_fold;
};

// Reads and checks plans.json, dataset.json and the folds' checkpoints. Errors (InvalidInput /
// IoError) name the folder and file: no plans.json, no fold with the checkpoint, a fold asked for but
// missing, a checkpoint of another network than the plans describe, weights of the wrong shape.
nn::PredictorModelSpec read_model_folder(const std::string& folder, const ModelFolderOptions& options = {});

// The model folder of a trained configuration: RESULTS/DatasetXXX_Name/<trainer>__<plans>__<configuration>.
std::string model_folder_path(const std::string& results_root, const std::string& dataset_name,
                              const std::string& trainer, const std::string& plans, const std::string& configuration);

// The preprocessing of a configuration as the plans alone describe it (prediction has no fingerprint:
// the CT normalization statistics come from the plans' foreground_intensity_properties_per_channel).
data::PreprocessingPlan preprocessing_plan_from_plans(const PlansFile& plans,
                                                      const ResolvedConfiguration& configuration,
                                                      const data::DatasetJson& dataset);

// The export (§8.4) of a configuration: transposes, its spacing, probability resampling, regions.
data::ExportPlan export_plan_from_plans(const PlansFile& plans, const ResolvedConfiguration& configuration,
                                        const data::DatasetJson& dataset);

}  // namespace nnuc::planner
