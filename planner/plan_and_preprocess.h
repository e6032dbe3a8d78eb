// nnU-Net's plan_and_preprocess (spec §2, §3, §4; `nnuc plan`): verify the raw dataset, extract its
// fingerprint, plan the configurations under a memory budget, preprocess the chosen ones.
//
// Output, in PREPROCESSED_ROOT/DatasetXXX_Name/ (nnU-Net's names):
//   dataset.json               copy of the raw dataset's
//   dataset_fingerprint.json   the fingerprint (or a copy of the one planned from; planning from the
//                              output folder's own fingerprint, nnU-Net's plan_experiment, leaves it as is)
//   nnuc_fingerprint_source.json  what the fingerprint was made from (nnuc's; nnU-Net ignores it):
//                              the raw dataset's state hash (data::dataset_state_hash: dataset.json's
//                              bytes, name, size and mtime of every case file) and a digest of the
//                              fingerprint file's bytes. A later run reuses the fingerprint only when
//                              both still match (nnU-Net reuses any existing fingerprint unless --clean).
//   <plans_name>.json          the plans (nnUNetPlans.json for the default planner); configurations of
//                              an existing plans file that these plans do not define are kept
//   splits_final.json          copied from the raw folder when it has one
//   <data_identifier>/CASE.nnuc   preprocessed cases of each chosen configuration (data/README.md)
//   gt_segmentations/CASE<file_ending>  copies of the training labels (when preprocessing images), for
//                              validation and postprocessing; a byte-identical copy is left alone
// Every file is written atomically (temp file in the same folder, then rename).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "data/dataset/verification.h"
#include "data/preprocess/fingerprint.h"
#include "data/preprocess/preprocess_case.h"
#include "planner/exact_memory_model.h"
#include "planner/planner.h"
#include "planner/plans.h"

namespace nnuc::planner {

enum class MemoryModelKind { exact, nnunet };
// "exact" | "nnunet"; InvalidInput naming the value otherwise.
MemoryModelKind memory_model_kind_from_name(const std::string& name);

// The configurations nnuc plans and preprocesses.
const std::vector<std::string>& configuration_names();  // 2d, 3d_fullres, 3d_lowres

struct PlanAndPreprocessOptions {
  // Either a raw dataset folder (dataset.json, imagesTr/, labelsTr/) ...
  std::string raw_dataset_folder;
  // ... or a fingerprint and a dataset.json to plan from (no images: nothing is preprocessed).
  std::string fingerprint_file;
  std::string dataset_json_file;
  std::string preprocessed_root;              // PREPROCESSED_DIR; output goes to its DatasetXXX_Name/ subfolder
  std::string dataset_name;                   // default: the raw folder's (or the fingerprint's folder's) name
  std::vector<std::string> configurations;    // to preprocess; empty: all. Plans always hold all.
  std::string planner = "ExperimentPlanner";  // preset name (planner_preset_by_name)
  // nnU-Net's -overwrite_plans_name: the plans file <name>.json and the data identifiers <name>_<config>
  // (default: the preset's plans name, nnUNetPlans for ExperimentPlanner).
  std::optional<std::string> plans_name;
  // nnU-Net's -overwrite_target_spacing: 3d_fullres's target spacing in the fingerprint's axis order
  // (the raw arrays' (a0, a1, a2)) instead of the rule's.
  std::optional<std::array<double, 3>> overwrite_target_spacing;
  std::optional<double> gpu_memory_gb;  // --gpu-memory; default: resolve_memory_budget's rule
  MemoryModelKind memory_model = MemoryModelKind::exact;
  Device modelled_device = Device::CUDA;  // exact model: the device whose memory is modelled
  // false: plan only (--no-preprocess, nnU-Net's --no_pp; no gt_segmentations/ either).
  bool preprocess = true;
  // false: stop after the fingerprint (nnU-Net's nnUNetv2_extract_fingerprint; `nnuc extract-fingerprint`):
  // dataset.json, dataset_fingerprint.json and its source record are written, nothing is planned.
  // Needs a raw dataset folder.
  bool plan = true;
  // --clean: extract the fingerprint even when the existing one was made from the same raw dataset.
  bool clean = false;
  bool verify = true;           // refuse a raw dataset that does not pass verification
  int workers = 0;              // cases in parallel (verification, fingerprint, preprocessing); 0: CPU cores
  int fingerprint_workers = 0;  // nnU-Net's -npfp: cases in parallel for the fingerprint; 0: `workers`
  // Foreground intensity samples pooled over the dataset for the fingerprint (nnU-Net: 1e8). Fewer
  // change the CT normalization statistics; tests that do not look at them draw fewer to run faster.
  double fingerprint_samples = data::kFingerprintForegroundSamples;
  std::function<void(const std::string&)> log;  // progress lines for people (optional)
};

struct ConfigurationOutcome {
  std::string name;                    // 2d, 3d_fullres, 3d_lowres
  ConfigurationPlan plan;              // as in PlanAndPreprocessResult::plans
  std::size_t cases_preprocessed = 0;  // 0 when not preprocessed
  std::string folder;                  // the preprocessed folder (empty when not preprocessed)
};

struct PlanAndPreprocessResult {
  // Verification did not pass: nothing was planned or written; `verification` lists every problem.
  bool refused = false;
  std::optional<data::VerificationReport> verification;  // when the verifier ran
  std::string verification_note;  // e.g. "verified earlier (record up to date)", "skipped (--no-verify)"
  std::string output_folder;      // PREPROCESSED_ROOT/DatasetXXX_Name
  std::string plans_file;
  // "reused (unchanged dataset)", "extracted", "extracted (why the existing one was not reused)" or
  // "copied from F" (planning from a fingerprint).
  std::string fingerprint_note;
  bool fingerprint_reused = false;
  std::string ground_truth_folder;  // gt_segmentations/ (empty when no images were preprocessed)
  std::size_t ground_truth_copied = 0, ground_truth_unchanged = 0;  // label files copied / already identical
  ResolvedBudget budget;
  Plans plans;
  std::vector<ConfigurationOutcome> configurations;                    // every planned configuration, nnU-Net's order
  std::optional<ExactMemoryModel::Statistics> exact_model_statistics;  // exact model only
  double fingerprint_seconds = 0, planning_seconds = 0, preprocessing_seconds = 0;
};

// The whole pipeline. Throws InvalidInput (bad options, bad dataset.json or fingerprint, a budget too
// small for the smallest network) or IoError (unreadable or unwritable files), naming file, field
// and value. A dataset that fails verification is not an exception: result.refused.
PlanAndPreprocessResult plan_and_preprocess(const PlanAndPreprocessOptions& options);

// nnU-Net's nnUNetv2_preprocess: the preprocessing of an existing plans file (written by nnuc plan,
// by nnU-Net, or moved from another dataset by nnuc move-plans) without planning again.
struct PreprocessWithPlansOptions {
  std::string raw_dataset_folder;          // dataset.json, imagesTr/, labelsTr/
  std::string preprocessed_root;           // ROOT/<the raw folder's name>/ holds the plans and the output
  std::string plans_name = "nnUNetPlans";  // ROOT/NAME/<plans_name>.json
  // Configurations to preprocess; empty: 2d, 3d_fullres and 3d_lowres, those the plans hold (nnU-Net's
  // default). Named ones must be in the plans; 3d_cascade_fullres stands for 3d_fullres's data.
  std::vector<std::string> configurations;
  int workers = 0;                              // cases in parallel; 0: hardware threads
  std::function<void(const std::string&)> log;  // progress lines for people (optional)
};

// The plans' own preprocessing per configuration (planner/model_folder.h: preprocessing_plan_from_plans;
// CT normalization with the plans' foreground_intensity_properties_per_channel, which moved plans
// carry over from the source dataset, as nnU-Net does) into ROOT/NAME/<data_identifier>/, then
// dataset.json (and splits_final.json when the raw folder has one) and gt_segmentations/ as nnuc plan
// writes them. For plans planned from this dataset the case files equal those of nnuc plan. result
// holds output_folder, plans_file, configurations (those preprocessed) and the ground truth counts.
PlanAndPreprocessResult preprocess_with_plans(const PreprocessWithPlansOptions& options);

// The preprocessing of one planned configuration: transpose, target spacing, per-channel
// normalization (CT with the fingerprint's foreground statistics), resampling orders, and the
// classes whose locations are stored for foreground oversampling.
data::PreprocessingPlan preprocessing_plan_for(const Plans& plans, const ConfigurationPlan& configuration,
                                               const data::DatasetJson& dataset,
                                               const data::DatasetFingerprint& fingerprint);

// One line per configuration for people: spacing, patch, batch, stages, predicted memory vs budget.
std::string configuration_summary(const std::string& name, const ConfigurationPlan& plan);

}  // namespace nnuc::planner
