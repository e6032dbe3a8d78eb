// `nnuc accumulate-crossval`: nnUNetv2_accumulate_crossval_results. Gathers the validation
// predictions of a trained configuration's folds into crossval_results_folds_<folds>/ and evaluates
// them against the training labels (planner/model_selection.h).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "planner/model_folder.h"
#include "planner/model_selection.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_accumulate_crossval(int argc, char** argv) {
  std::string dataset, configuration, output, trainer = "nnUNetTrainer", plans = "nnUNetPlans";
  std::vector<std::string> folds{"0", "1", "2", "3", "4"};
  int threads = 8;
  CommandLine cli("accumulate-crossval",
                  "nnuc accumulate-crossval DATASET -c CONFIGURATION [-f FOLD ...] [-tr T] [-p P] [-o DIR] [-np N]",
                  "nnU-Net's nnUNetv2_accumulate_crossval_results: copies fold_X/validation/CASE<file_ending> of\n"
                  "every fold of $nnUNet_results/DatasetXXX_Name/<T>__<P>__<CONFIGURATION> into\n"
                  "crossval_results_folds_<folds joined by _>/ (or -o DIR) with plans.json and dataset.json, and\n"
                  "evaluates them against $nnUNet_raw/DatasetXXX_Name/labelsTr (else\n"
                  "$nnUNet_preprocessed/DatasetXXX_Name/gt_segmentations) into summary.json.\n");
  cli.option("DATASET", dataset, "dataset id or name (4, 004 or Dataset004_Name)")->required();
  cli.option("-c", configuration, "configuration")->type_name("CONFIG")->required();
  cli.option("-f", folds, "folds (default 0 1 2 3 4)")->type_name("FOLD")->expected(1, 64);
  cli.option("-tr", trainer, "trainer (default nnUNetTrainer)")->type_name("TRAINER");
  cli.option("-p", plans, "plans name (default nnUNetPlans)")->type_name("PLANS");
  cli.option("-o", output, "output folder (default: MODEL/crossval_results_folds_<folds>)")->type_name("DIR");
  cli.option("-np", threads, "cases in parallel (default 8)")->type_name("N")->check(in_range(1, 256));
  cli.exit_codes("accumulated and evaluated", "a file could not be read or written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  const data::NnunetRoots roots = data::NnunetRoots::from_environment();
  NNUC_CHECK(!roots.results.empty(), "nnuc accumulate-crossval: DATASET needs $nnUNet_results");
  const std::string name = data::dataset_name_from_id_or_name(dataset, roots);
  const std::string model = planner::model_folder_path(roots.results, name, trainer, plans, configuration);
  const planner::CrossvalResult result = planner::accumulate_crossval_results(
      model, folds, planner::crossval_reference_folder(roots, name), output, threads, true);
  std::printf("%s: foreground mean Dice %.5f (%s)\n", result.folder.c_str(), result.foreground_dice,
              (std::filesystem::path(result.folder) / "summary.json").string().c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
