// `nnuc export-model` and `nnuc install-model`: nnUNetv2_export_model_to_zip and
// nnUNetv2_install_pretrained_model_from_zip (planner/model_archive.h). Archives hold paths relative
// to the results root, so models move between nnuc and nnU-Net installations in both directions.
#include "planner/model_archive.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_export_model(int argc, char** argv) {
  std::string dataset, output;
  planner::ModelExportOptions options;
  bool not_strict = false, quiet = false;
  CommandLine cli(
      "export-model",
      "nnuc export-model -d DATASET -o FILE.zip [-c CONFIG ...] [-tr T] [-p P] [-f FOLD ...] [-chk NAME ...]\n"
      "                         [--not_strict] [--exp_cv_preds]",
      "nnU-Net's nnUNetv2_export_model_to_zip: packs the trained models of $nnUNet_results/DatasetXXX_Name\n"
      "into one zip archive for sharing: per configuration plans.json, dataset.json,\n"
      "dataset_fingerprint.json, per fold the checkpoints, debug.json, progress.png and\n"
      "validation/summary.json, the cross-validation summary and postprocessing, the ensembles made of\n"
      "exported models only, and inference_information.json. Names are relative to $nnUNet_results, as\n"
      "nnU-Net writes them: `nnuc install-model` and nnUNetv2_install_pretrained_model_from_zip read it.\n");
  cli.option("-d", dataset, "dataset id or name under $nnUNet_results")->type_name("DATASET")->required();
  cli.option("-o", output, "the zip file to write")->type_name("FILE")->required();
  cli.option("-c", options.configurations, "configurations (default 3d_lowres 3d_fullres 2d 3d_cascade_fullres)")
      ->type_name("CONFIG")
      ->expected(1, 64);
  cli.option("-tr", options.trainer, "trainer (default nnUNetTrainer)")->type_name("TRAINER");
  cli.option("-p", options.plans, "plans name (default nnUNetPlans)")->type_name("PLANS");
  cli.option("-f", options.folds, "folds (default 0 1 2 3 4; all for fold_all)")->type_name("FOLD")->expected(1, 64);
  cli.option("-chk", options.checkpoints,
             "checkpoints (default checkpoint_final: its .nnuc, else its .pth; or full names such as "
             "checkpoint_final.pth checkpoint_best.nnuc)")
      ->type_name("NAME")
      ->expected(1, 16);
  cli.flag("--not_strict", not_strict, "skip configurations and checkpoints that do not exist instead of failing");
  cli.flag("--exp_cv_preds", options.export_crossval_predictions,
           "also export the cross-validation predictions (every validation file but .npz and .pkl)");
  cli.flag("-q,--quiet", quiet, "print only the archive's path");
  cli.exit_codes("the archive is written", "a file could not be read or the archive written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  options.strict = !not_strict;

  const data::NnunetRoots roots = data::NnunetRoots::from_environment();
  NNUC_CHECK(!roots.results.empty(), "nnuc export-model: -d needs $nnUNet_results");
  const std::string name = data::dataset_name_from_id_or_name(dataset, roots);
  const planner::ModelExportResult result = planner::export_model_zip(roots.results, name, output, options);
  if (!quiet) {
    for (const std::string& skipped : result.skipped) std::printf("skipped (--not_strict): %s\n", skipped.c_str());
    std::printf("%zu files, %.1f MB before compression\n", result.members.size(), double(result.bytes) / 1e6);
  }
  std::printf("%s\n", output.c_str());
  return kExitSuccess;
}

int run_install_model(int argc, char** argv) {
  std::string archive, results;
  bool quiet = false;
  CommandLine cli("install-model", "nnuc install-model FILE.zip [-o RESULTS_DIR]",
                  "nnU-Net's nnUNetv2_install_pretrained_model_from_zip: extracts a model archive (written by\n"
                  "`nnuc export-model` or nnUNetv2_export_model_to_zip) into $nnUNet_results (or -o DIR), where\n"
                  "`nnuc predict -d DATASET -c CONFIGURATION` finds it. Every member is checked before anything\n"
                  "is written: an archive with a member that could land outside the results folder (absolute\n"
                  "names, '..', links) or outside a DatasetXXX_Name folder is refused whole. Files are written\n"
                  "atomically after their CRC-32 is checked; files of the same name are replaced.\n");
  cli.option("ZIP", archive, "the model archive")->type_name("FILE")->required();
  cli.option("-o", results, "the results root (default: $nnUNet_results)")->type_name("DIR");
  cli.flag("-q,--quiet", quiet, "print nothing but errors");
  cli.exit_codes("the models are installed", "the archive could not be read (corrupt) or a file not written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  if (results.empty()) results = data::NnunetRoots::from_environment().results;
  NNUC_CHECK(!results.empty(), "nnuc install-model: no results folder: give -o RESULTS_DIR or set $nnUNet_results");

  const planner::ModelInstallResult result = planner::install_model_zip(archive, results);
  if (!quiet) {
    std::printf("%zu files into %s (%d replaced)\n", result.files.size(), results.c_str(), result.replaced);
    for (const std::string& model : result.model_folders) std::printf("model folder: %s\n", model.c_str());
  }
  return kExitSuccess;
}

}  // namespace nnuc::tools
