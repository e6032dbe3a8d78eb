// The options `nnuc plan` and `nnuc plan-experiment` share (the planner, the memory budget and model,
// nnU-Net's plans name and target spacing overrides), and the report both print. Defined in
// tools/plan.cpp.
#pragma once

#include <string>
#include <vector>

#include "planner/plan_and_preprocess.h"
#include "tools/cli.h"

namespace nnuc::tools {

struct PlanningArguments {
  std::string memory_model = "exact";
  std::string model_device = "cuda";
  std::string planner = "ExperimentPlanner";
  std::string plans_name;
  std::vector<double> target_spacing;
  double gpu_memory_gb = 0;
  CLI::Option* gpu_memory = nullptr;  // whether -gpu_memory_target was given

  // Declares -pl, -gpu_memory_target, --memory-model, --model-device, -overwrite_plans_name and
  // -overwrite_target_spacing (with nnuc's spellings beside nnU-Net's) on `cli`, stored here.
  void declare(CommandLine& cli);
  // Copies what was given into `options` (InvalidInput naming an unknown memory model).
  void apply_to(planner::PlanAndPreprocessOptions& options) const;
};

// The plan's report on stdout: output folder, verification and fingerprint notes, budget, one line per
// configuration, the exact model's statistics, gt_segmentations and the plans file.
void print_plan_report(const planner::PlanAndPreprocessResult& result);

// When verification refused the raw dataset `folder`: prints every problem and a line saying what
// `command` ("plan", "extract-fingerprint") did not do and how to go on anyway; returns true. Else false.
bool report_refusal(const planner::PlanAndPreprocessResult& result, const std::string& command,
                    const std::string& folder);

// `given` when not empty, else $nnUNet_preprocessed (InvalidInput saying how to give one when unset).
std::string preprocessed_root_or_environment(const std::string& given);

}  // namespace nnuc::tools
