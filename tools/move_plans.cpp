// `nnuc move-plans`: nnU-Net's nnUNetv2_move_plans_between_datasets (planner/move_plans.h), the first
// step of fine-tuning: SOURCE's plans become TARGET's, so that a model pretrained on SOURCE fits.
#include "planner/move_plans.h"

#include <cstdio>
#include <string>

#include "data/dataset/raw_dataset.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_move_plans(int argc, char** argv) {
  planner::MovePlansOptions options;
  bool quiet = false;
  CommandLine cli("move-plans",
                  "nnuc move-plans -s SOURCE -t TARGET [-sp SOURCE_PLANS] [-tp TARGET_PLANS] [--overwrite]",
                  "nnU-Net's nnUNetv2_move_plans_between_datasets: copies $nnUNet_preprocessed/SOURCE/<SP>.json to\n"
                  "$nnUNet_preprocessed/TARGET/<TP>.json for TARGET (dataset_name, plans_name, data identifiers\n"
                  "and the image reader renamed; topology, patch, spacing and normalization kept), so that a model\n"
                  "pretrained on SOURCE can be fine-tuned on TARGET:\n"
                  "  nnuc move-plans -s SOURCE -t TARGET -sp nnUNetPlans -tp nnUNetPlans_from_SOURCE\n"
                  "  nnuc preprocess -d TARGET -plans_name nnUNetPlans_from_SOURCE -c 3d_fullres\n"
                  "  nnuc train TARGET 3d_fullres 0 -p nnUNetPlans_from_SOURCE -pretrained_weights CHECKPOINT\n");
  cli.option("-s", options.source_dataset, "source dataset id or name (its plans are read)")
      ->type_name("SOURCE")
      ->required();
  cli.option("-t", options.target_dataset, "target dataset id or name (its raw dataset.json is read)")
      ->type_name("TARGET")
      ->required();
  cli.option("-sp", options.source_plans, "source plans name (default nnUNetPlans)")->type_name("NAME");
  cli.option("-tp", options.target_plans, "target plans name (default: the source's)")->type_name("NAME");
  cli.flag("--overwrite", options.overwrite, "replace the target plans file when it exists");
  cli.flag("-q,--quiet", quiet, "print only the written file");
  cli.exit_codes("the plans are written", "a file could not be read or written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  const planner::MovedPlans moved =
      planner::move_plans_between_datasets(options, data::NnunetRoots::from_environment());
  if (!quiet)
    for (const std::string& identifier : moved.data_identifiers)
      std::printf("data identifier: %s\n", identifier.c_str());
  std::printf("%s\n", moved.file.c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
