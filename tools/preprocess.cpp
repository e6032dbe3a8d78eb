// `nnuc preprocess`: nnU-Net's nnUNetv2_preprocess. Preprocesses a raw dataset with a plans file that
// exists already (planned by nnuc plan or nnU-Net, or moved from another dataset by nnuc move-plans)
// without planning again (planner/plan_and_preprocess.h: preprocess_with_plans).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "planner/plan_and_preprocess.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_preprocess(int argc, char** argv) {
  planner::PreprocessWithPlansOptions options;
  std::string dataset_id;
  std::vector<std::string> configurations;
  std::vector<int> workers;
  bool quiet = false, verbose = false;
  CommandLine cli("preprocess",
                  "nnuc preprocess (-d ID | -i RAW_DATASET_DIR -o PREPROCESSED_DIR) [-plans_name P] [-c CONFIG ...] "
                  "[-np N ...]",
                  "nnU-Net's nnUNetv2_preprocess: preprocesses the raw dataset with the plans file\n"
                  "PREPROCESSED/DatasetXXX_Name/<P>.json as it is (no fingerprint, no planning): written by nnuc\n"
                  "plan, by nnU-Net, or moved from another dataset by nnuc move-plans. Writes <data_identifier>/\n"
                  "of each configuration, dataset.json and gt_segmentations/ as nnuc plan does.\n");
  cli.option("-d", dataset_id, "a dataset under $nnUNet_raw (4, 004 or Dataset004_Name)")->type_name("ID|NAME");
  cli.option("-i", options.raw_dataset_folder, "the raw dataset folder (instead of -d)")->type_name("DIR");
  cli.option("-o", options.preprocessed_root, "the preprocessed root (default: $nnUNet_preprocessed)")
      ->type_name("DIR");
  cli.option("-plans_name,--plans", options.plans_name, "plans name (default nnUNetPlans)")->type_name("P");
  cli.option("-c", configurations,
             "configurations (default 2d 3d_fullres 3d_lowres, those the plans hold; 3d_cascade_fullres\n"
             "stands for 3d_fullres's data)")
      ->type_name("CONFIG")
      ->expected(1, 16)
      ->delimiter(',');
  cli.option("-np,--workers", workers, "cases in parallel (default: CPU cores); -np N1 N2 .. uses the largest")
      ->type_name("N")
      ->expected(1, 16)
      ->check(in_range(1, 256));
  cli.flag("--verbose", verbose, "accepted for nnU-Net's scripts (progress lines are printed unless -q)");
  cli.flag("-q,--quiet,--no_pbar", quiet, "no progress output");
  cli.exit_codes("preprocessed", "a file could not be read or written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  options.configurations = configurations;
  for (int count : workers) options.workers = std::max(options.workers, count);
  NNUC_CHECK(options.raw_dataset_folder.empty() != dataset_id.empty(),
             "nnuc preprocess: expected exactly one of -d ID and -i RAW_DATASET_DIR");
  const data::NnunetRoots roots = data::NnunetRoots::from_environment();
  if (!dataset_id.empty()) options.raw_dataset_folder = data::raw_dataset_folder(dataset_id, roots);
  if (options.preprocessed_root.empty()) options.preprocessed_root = roots.preprocessed;
  NNUC_CHECK(!options.preprocessed_root.empty(),
             "nnuc preprocess: no preprocessed root: give -o PREPROCESSED_DIR or set $nnUNet_preprocessed");
  if (!quiet) options.log = [](const std::string& line) { std::fprintf(stderr, "preprocess: %s\n", line.c_str()); };

  const planner::PlanAndPreprocessResult result = planner::preprocess_with_plans(options);
  if (!quiet) {
    for (const planner::ConfigurationOutcome& outcome : result.configurations)
      std::printf("%s: %zu cases into %s\n", outcome.name.c_str(), outcome.cases_preprocessed, outcome.folder.c_str());
    std::printf("gt_segmentations: %zu copied, %zu already up to date\n", result.ground_truth_copied,
                result.ground_truth_unchanged);
  }
  return kExitSuccess;
}

}  // namespace nnuc::tools
