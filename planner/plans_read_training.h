// What a training run reads from the preprocessed dataset folder (spec §6.3, §6.4, §6.9): the plans
// and the configuration to train, dataset.json, the fold's split (splits_final.json, created with
// nnU-Net's recipe when missing), the network, the loss, the batch pipeline over the preprocessed
// cases, and the results folder laid out as nnU-Net's:
//   RESULTS/DatasetXXX_Name/<trainer>__<plans>__<configuration>/{plans.json, dataset.json,
//       dataset_fingerprint.json, fold_k/ (fold_all/)}
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "data/loader/splits.h"
#include "nn/trainer_data.h"
#include "planner/plans_read.h"

namespace nnuc::planner {

struct TrainingSetupOptions {
  std::string preprocessed_folder;  // PREPROCESSED/DatasetXXX_Name (nnuc plan's output folder)
  std::string plans_name = "nnUNetPlans";
  std::string configuration;  // 2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres or a custom one
  std::string fold;           // "0" .. "4", "all", or a higher index (random 80:20 split)
  std::string results_root;   // RESULTS (nnUNet_results)
  std::string trainer_name = "nnUNetTrainer";
};

struct TrainingSetup {
  PlansFile plans;
  ResolvedConfiguration configuration;
  data::DatasetJson dataset;
  nn::UNetConfig network;
  nn::LossConfig loss;
  data::Split split;             // the fold's case identifiers
  nn::PipelineSpec pipeline;     // cases, patch, batch, channels, labels; caller sets
                                 // activations, workers and ranks
  std::vector<int> mirror_axes;  // inference_allowed_mirroring_axes
  std::string output_base;       // RESULTS/DatasetXXX_Name/<trainer>__<plans>__<configuration>
  std::string fold_folder;       // output_base/fold_<fold>
  nlohmann::json init_args;      // for checkpoints: plans, configuration, fold, dataset_json
};

// Reads and checks everything: InvalidInput naming the file or option at fault (no plans file of
// that name, no such configuration, no preprocessed cases, a case missing from the preprocessed
// folder, a cascade without the previous stage's predictions), IoError for unreadable files.
// Writes splits_final.json into the preprocessed folder when it has none (nnU-Net does the same).
TrainingSetup prepare_training(const TrainingSetupOptions& options);

// The configuration whose `nnuc plan -c` writes the preprocessed data that `configuration` trains on:
// the configuration itself, or the ancestor it shares its data_identifier with (3d_cascade_fullres:
// 3d_fullres).
std::string preprocessing_configuration(const PlansFile& plans, const std::string& configuration);

// Copies plans.json (the plans file), dataset.json and dataset_fingerprint.json into output_base,
// each written atomically (nnU-Net copies them at the start of every training).
void write_results_folder_files(const TrainingSetup& setup, const TrainingSetupOptions& options);

}  // namespace nnuc::planner
