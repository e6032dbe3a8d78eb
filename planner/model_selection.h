// Model selection (spec §9.3, §9.5): cross-validation accumulation (nnU-Net's
// accumulate_cv_results) and the choice of the best configuration or pair ensemble
// (find_best_configuration) with its postprocessing and inference instructions.
//
// Layout (Appendix B):
//   RESULTS/DatasetXXX_Name/<trainer>__<plans>__<configuration>/crossval_results_folds_0_1_2_3_4/
//       CASE<file_ending> (every fold's validation predictions), summary.json, plans.json, dataset.json
//       [+ postprocessing.json, postprocessed/ for the winner]
//   RESULTS/DatasetXXX_Name/ensembles/ensemble___<m1>___<m2>___0_1_2_3_4/   (m = trainer__plans__config)
//       CASE<file_ending>, summary.json, plans.json, dataset.json
//   RESULTS/DatasetXXX_Name/inference_information.json, inference_instructions.txt
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"

namespace nnuc::planner {

// "crossval_results_folds_0_1_2_3_4": the folds joined by "_" (nnU-Net's folds_tuple_to_string).
std::string crossval_folder_name(const std::vector<std::string>& folds);

// The reference of cross-validation results (nnU-Net's rule): RAW/NAME/labelsTr when that folder
// exists, else PREPROCESSED/NAME/gt_segmentations. InvalidInput naming both when neither exists.
std::string crossval_reference_folder(const data::NnunetRoots& roots, const std::string& dataset_name);

struct CrossvalResult {
  std::string folder;              // the crossval_results_folds_* folder
  nlohmann::ordered_json summary;  // its summary.json
  double foreground_dice = 0;      // summary["foreground_mean"]["Dice"]
  bool reused = false;             // overwrite = false and summary.json existed: nothing recomputed
};

// nnU-Net's accumulate_cv_results: MODEL/fold_k/validation/CASE<file_ending> of every fold copied
// into output_folder (empty: MODEL/crossval_folder_name(folds)), evaluated against reference_folder
// (summary.json), with MODEL's plans.json and dataset.json copied there.
// With overwrite = false an existing output_folder/summary.json is reused as it is.
// Errors (InvalidInput naming the folder): no model folder, no plans.json/dataset.json in it, a fold
// without validation/ ("train it"), a case predicted by two folds (data::accumulate_crossval).
CrossvalResult accumulate_crossval_results(const std::string& model_folder, const std::vector<std::string>& folds,
                                           const std::string& reference_folder, const std::string& output_folder = "",
                                           int threads = 8, bool overwrite = true);

// One trained model: RESULTS/NAME/<trainer>__<plans>__<configuration>.
struct TrainedModel {
  std::string trainer = "nnUNetTrainer";
  std::string plans = "nnUNetPlans";
  std::string configuration;
  std::string identifier() const { return trainer + "__" + plans + "__" + configuration; }
};

// "ensemble___<m1>___<m2>___<folds joined by _>" (nnU-Net's get_ensemble_name).
std::string ensemble_name(const TrainedModel& first, const TrainedModel& second, const std::vector<std::string>& folds);

// nnU-Net's default candidates: nnUNetTrainer, nnUNetPlans, 2d 3d_fullres 3d_lowres 3d_cascade_fullres.
std::vector<std::string> default_selection_configurations();

struct FindBestOptions {
  std::string results_dataset_folder;  // RESULTS/DatasetXXX_Name
  std::vector<TrainedModel> models;    // the candidates, in order (ties go to the earlier one)
  // true: the configurations were named by the user, so a candidate present in the plans but without
  // a results folder is an error; false (defaulted): it is skipped with a message.
  bool configurations_given = false;
  std::vector<std::string> folds{"0", "1", "2", "3", "4"};  // non-negative integers
  bool allow_ensembling = true;
  bool overwrite = true;  // false: reuse existing cross-validation summaries and ensemble cases
  int threads = 8;
  std::string reference_folder;  // labels of the training cases (crossval_reference_folder)
  // Where <plans>.json decides which configurations exist (PREPROCESSED/NAME); empty or without the
  // file: the plans.json of a model folder of that plans name under results_dataset_folder.
  std::string preprocessed_dataset_folder;
  // How the instructions name a model: "-d <this> -c C -tr T -p P" (the dataset as found under
  // $nnUNet_results), or "-m <model folder>" when empty.
  std::string dataset_for_commands;
};

struct SelectionEntry {
  std::string identifier;             // a model's identifier or ensemble_name(...)
  std::string source;                 // its cross-validation folder
  double foreground_dice = 0;         // pre-postprocessing
  std::vector<TrainedModel> members;  // one model, or the ensemble's two
};

struct FindBestResult {
  std::vector<TrainedModel> considered;  // candidates with a results folder, in order
  std::vector<SelectionEntry> entries;   // singles, then pair ensembles, in order
  std::size_t best = 0;                  // index into entries
  double post_postprocessing_dice = 0;   // the winner after determine_postprocessing
  std::string postprocessing_file;       // <winner source>/postprocessing.json
  nlohmann::ordered_json information;    // inference_information.json
  std::string instructions;              // inference_instructions.txt
  std::string information_file, instructions_file;
};

// nnU-Net's find_best_configuration (spec §9.5): candidates absent from their plans are skipped;
// each remaining one is accumulated (accumulate_crossval_results) and scored by its foreground-mean
// Dice; with ensembling every pair is ensembled on the cross-validation probabilities
// (ensemble_crossvalidations, RESULTS/NAME/ensembles/...) and scored against reference_folder; the
// best score wins (ties: the first, singles before ensembles; a NaN score never wins unless all
// are NaN); determine_postprocessing runs on the winner's folder; inference_information.json
// (nnU-Net's keys, sorted, indent 4) and inference_instructions.txt are written last, each
// atomically, so an error leaves neither.
// `log` (optional) receives one line per step (skipped candidates, scores, the winner).
FindBestResult find_best_configuration(const FindBestOptions& options,
                                       const std::function<void(const std::string&)>& log = nullptr);

// inference_instructions.txt from an inference_information document: `nnuc predict` per selected
// model (with --save-probabilities into OUTPUT_FOLDER_MODEL_<i> for an ensemble, else into
// OUTPUT_FOLDER), `nnuc ensemble` for an ensemble, then `nnuc postprocess` into OUTPUT_FOLDER_PP.
// Placeholders: INPUT_FOLDER, OUTPUT_FOLDER_MODEL_<i>, OUTPUT_FOLDER, OUTPUT_FOLDER_PP.
// model_folders: the selected models' folders, used when dataset_for_commands is empty.
std::string inference_instructions(const nlohmann::ordered_json& information, const std::string& dataset_for_commands,
                                   const std::vector<std::string>& model_folders);

}  // namespace nnuc::planner
