// `nnuc find-best`: nnUNetv2_find_best_configuration. Scores every trained configuration and every
// pair ensemble on the cross-validation, picks the best, determines its postprocessing and writes
// inference_information.json and inference_instructions.txt (planner/model_selection.h).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "planner/model_selection.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

namespace fs = std::filesystem;

int run_find_best(int argc, char** argv) {
  std::string positional, dataset, results_folder;
  std::vector<std::string> configurations = planner::default_selection_configurations();
  std::vector<std::string> trainers{"nnUNetTrainer"}, plans{"nnUNetPlans"};
  planner::FindBestOptions options;
  bool disable_ensembling = false, no_overwrite = false, quiet = false;
  CommandLine cli(
      "find-best",
      "nnuc find-best (-d DATASET | DATASET | -r RESULTS_DATASET_DIR) [-c CONFIG ...] [-f FOLD ...] [-tr T ...]\n"
      "                     [-p P ...] [-np N] [--disable_ensembling] [--no_overwrite]",
      "nnU-Net's nnUNetv2_find_best_configuration: accumulates the cross-validation of every trained\n"
      "configuration (configurations absent from the plans are skipped; defaulted ones without a results\n"
      "folder too), ensembles every pair on the cross-validation probabilities (train with --npz) into\n"
      "ensembles/, picks the best foreground-mean Dice (ties: the first, singles before ensembles),\n"
      "determines its postprocessing and writes RESULTS/DatasetXXX_Name/inference_information.json and\n"
      "inference_instructions.txt (the nnuc commands to predict new cases).\n"
      "References: $nnUNet_raw/DatasetXXX_Name/labelsTr, else $nnUNet_preprocessed/.../gt_segmentations.\n");
  cli.option("DATASET", positional, "dataset id or name (as -d)")->type_name("");
  cli.option("-d", dataset, "dataset id or name under $nnUNet_results")->type_name("DATASET");
  cli.option("-r", results_folder, "the results dataset folder (instead of -d)")->type_name("DIR");
  CLI::Option* configuration_option =
      cli.option("-c", configurations, "configurations (default 2d 3d_fullres 3d_lowres 3d_cascade_fullres)")
          ->type_name("CONFIG")
          ->expected(1, 64);
  cli.option("-f", options.folds, "folds (default 0 1 2 3 4)")->type_name("FOLD")->expected(1, 64);
  cli.option("-tr", trainers, "trainers (default nnUNetTrainer)")->type_name("TRAINER")->expected(1, 64);
  cli.option("-p", plans, "plans names (default nnUNetPlans)")->type_name("PLANS")->expected(1, 64);
  cli.option("-np", options.threads, "cases in parallel (default 8)")->type_name("N")->check(in_range(1, 256));
  cli.flag("--disable_ensembling", disable_ensembling, "score single configurations only");
  cli.flag("--no_overwrite", no_overwrite, "reuse existing cross-validation summaries and ensembled cases");
  cli.flag("-q,--quiet", quiet, "print only the result");
  cli.exit_codes("the best model chosen, files written", "a file could not be read or written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  NNUC_CHECK(positional.empty() || dataset.empty(), "nnuc find-best: give DATASET or -d, not both");
  if (dataset.empty()) dataset = positional;
  NNUC_CHECK(dataset.empty() != results_folder.empty(),
             "nnuc find-best: give exactly one of -d DATASET and -r RESULTS_DATASET_DIR");
  const data::NnunetRoots roots = data::NnunetRoots::from_environment();
  std::string name;
  if (!dataset.empty()) {
    NNUC_CHECK(!roots.results.empty(), "nnuc find-best: -d needs $nnUNet_results (or give -r RESULTS_DATASET_DIR)");
    name = data::dataset_name_from_id_or_name(dataset, roots);
    options.results_dataset_folder = (fs::path(roots.results) / name).string();
    options.dataset_for_commands = name;
  } else {
    const fs::path folder = fs::path(results_folder).lexically_normal();
    name = (folder.filename().empty() ? folder.parent_path() : folder).filename().string();
    options.results_dataset_folder = results_folder;
    // The instructions name the dataset (-d) when nnuc predict will find it under $nnUNet_results.
    std::error_code error;
    if (!roots.results.empty() && fs::equivalent(fs::path(roots.results) / name, folder, error))
      options.dataset_for_commands = name;
  }
  options.reference_folder = planner::crossval_reference_folder(roots, name);
  if (!roots.preprocessed.empty()) options.preprocessed_dataset_folder = (fs::path(roots.preprocessed) / name).string();
  options.configurations_given = configuration_option->count() > 0;
  options.allow_ensembling = !disable_ensembling;
  options.overwrite = !no_overwrite;
  for (const std::string& trainer : trainers)
    for (const std::string& configuration : configurations)
      for (const std::string& plan : plans) options.models.push_back({trainer, plan, configuration});

  const planner::FindBestResult result = planner::find_best_configuration(options, [&](const std::string& line) {
    if (quiet) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  const planner::SelectionEntry& best = result.entries[result.best];
  std::printf("best: %s: %.5f (after postprocessing %.5f)\n", best.identifier.c_str(), best.foreground_dice,
              result.post_postprocessing_dice);
  if (!quiet) std::printf("\n%s\n", result.instructions.c_str());
  std::printf("wrote %s and %s\n", result.information_file.c_str(), result.instructions_file.c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
