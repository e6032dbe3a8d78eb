// `nnuc predict`: nnU-Net's nnUNetv2_predict / nnUNetv2_predict_from_modelfolder. Reads every case of
// the input folder (or one file), predicts it with the model folder's folds (nn/predict/predictor.h)
// and writes OUT/CASE<file_ending> with the input's geometry (plus CASE.npz and CASE.json with
// --save-probabilities). Reading and preprocessing of the next case and the export of the previous
// one overlap the network of the current one. A case that fails is reported and the others go on;
// the exit code is 1 when any case failed, and the message names each one.
#include <cstdio>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "kernels/core/context.h"
#include "planner/model_folder.h"
#include "planner/predict_folder.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_predict(int argc, char** argv) {
  planner::PredictFolderOptions run;
  std::string dataset, configuration, trainer = "nnUNetTrainer", plans = "nnUNetPlans";
  std::string device = cuda_available() ? "cuda" : "cpu";
  bool disable_tta = false, disable_tta_nnunet = false, save_probabilities_nnunet = false, resume_nnunet = false;
  bool not_on_device = false, verbose = false, quiet = false, f32 = false;
  int preprocessing_workers = 3, export_workers = 3;
  CommandLine cli("predict",
                  "nnuc predict -i INPUT -o OUTPUT_DIR -m MODEL_DIR [options]\n"
                  "       nnuc predict -i INPUT -o OUTPUT_DIR -d DATASET -c CONFIGURATION [-tr T] [-p P] [options]",
                  "nnU-Net's nnUNetv2_predict: predicts every case of INPUT (a folder of CASE_XXXX<file_ending>\n"
                  "channel files, or one image file) with the folds of a model folder (written by nnuc train or\n"
                  "by nnU-Net v2: plans.json, dataset.json, fold_X/checkpoint_final.{nnuc,pth}) and writes\n"
                  "OUTPUT_DIR/CASE<file_ending> with exactly the input's geometry. 3d_cascade_fullres without\n"
                  "-prev_stage_predictions first predicts 3d_lowres into OUTPUT_DIR/previous_stage_3d_lowres/.\n");
  cli.option("-i", run.input, "input folder (or one image file)")->type_name("INPUT")->required();
  cli.option("-o", run.output, "output folder")->type_name("DIR")->required();
  cli.option("-m", run.model_folder, "model folder (instead of -d -c -tr -p)")->type_name("DIR");
  cli.option("-d", dataset, "dataset id or name ($nnUNet_results/DatasetXXX_Name)")->type_name("DATASET");
  cli.option("-c", configuration, "configuration (with -d)")->type_name("CONFIG");
  cli.option("-tr", trainer, "trainer (with -d; default nnUNetTrainer)")->type_name("TRAINER");
  cli.option("-p", plans, "plans name (with -d; default nnUNetPlans)")->type_name("PLANS");
  cli.option("-f", run.folds, "folds to use (default: every fold_X/ with the checkpoint), e.g. -f 0 1 2 3 4 or all")
      ->type_name("FOLD")
      ->expected(1, 64);
  cli.option("-chk", run.checkpoint, "checkpoint name (default checkpoint_final: .nnuc, else .pth)")->type_name("NAME");
  cli.option("--device,-device", device, "cpu or cuda (default: cuda when a device is present)")
      ->type_name("D")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cli.flag("--disable-tta", disable_tta, "no test-time mirroring (8x fewer network calls in 3-D)");
  cli.flag("--disable_tta", disable_tta_nnunet, "nnU-Net's spelling of --disable-tta");
  cli.option("--step-size,-step_size", run.options.step_size,
             "sliding-window step as a fraction of the patch "
             "(default 0.5)")
      ->type_name("S")
      ->check(CLI::Range(0.01, 1.0));
  cli.flag("--save-probabilities", run.options.save_probabilities,
           "also write CASE.npz (\"probabilities\", f32 (K, spatial), as nnU-Net) and CASE.json (properties)");
  cli.flag("--save_probabilities", save_probabilities_nnunet, "nnU-Net's spelling of --save-probabilities");
  cli.flag("--continue", run.resume, "skip cases whose outputs exist");
  cli.flag("--continue_prediction", resume_nnunet, "nnU-Net's spelling of --continue");
  cli.option("-prev_stage_predictions", run.previous_stage_predictions,
             "cascade: folder of the previous stage's predictions (CASE<file_ending>)")
      ->type_name("DIR");
  cli.option("-num_parts", run.num_parts, "split the cases into this many parts (default 1)")
      ->type_name("N")
      ->check(in_range(1, 100000));
  cli.option("-part_id", run.part_id, "which part this run predicts (0 .. num_parts - 1)")
      ->type_name("K")
      ->check(in_range(0, 99999));
  cli.option("-npp", preprocessing_workers,
             "accepted for nnU-Net compatibility: nnuc preprocesses one case ahead (see --sequential)")
      ->type_name("N");
  cli.option("-nps", export_workers, "accepted for nnU-Net compatibility: nnuc exports one case behind")
      ->type_name("N");
  cli.flag("--sequential", run.sequential,
           "one case at a time (no reading ahead, no export behind): the least host memory for large volumes");
  cli.flag("--not-on-device,--not_on_device", not_on_device, "accumulate the logits on the host");
  cli.option("--tile-batch", run.options.tile_batch, "tiles per network call (default: automatic)")
      ->type_name("N")
      ->check(in_range(0, 1024));
  cli.flag("--f32", f32, "CUDA: f32 activations instead of bf16 mixed precision");
  cli.flag("--deterministic", run.options.deterministic,
           "CUDA: deterministic cuDNN algorithms only (same bits in every run for a fixed --tile-batch)");
  cli.flag("--verbose", verbose, "per-case timing of each step");
  cli.flag("-q,--quiet,--disable_progress_bar", quiet, "no per-case lines (failures are still reported)");
  cli.exit_codes("every case predicted", "at least one case failed (each is named), or the model is unreadable");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  (void)preprocessing_workers;
  (void)export_workers;

  run.options.use_mirroring = !(disable_tta || disable_tta_nnunet);
  run.options.save_probabilities = run.options.save_probabilities || save_probabilities_nnunet;
  run.options.accumulate_on_device = !not_on_device;
  run.options.mixed_precision = !f32;
  run.resume = run.resume || resume_nnunet;
  run.device = device == "cuda" ? Device::CUDA : Device::CPU;
  NNUC_CHECK(run.part_id < run.num_parts, "nnuc predict: -part_id ", run.part_id, " must be below -num_parts ",
             run.num_parts);
  if (run.model_folder.empty()) {
    NNUC_CHECK(!dataset.empty() && !configuration.empty(),
               "nnuc predict: give the model folder (-m) or the dataset and configuration (-d, -c)");
    const data::NnunetRoots roots = data::NnunetRoots::from_environment();
    NNUC_CHECK(!roots.results.empty(), "nnuc predict: -d needs $nnUNet_results (or give -m MODEL_DIR)");
    const std::string name = data::dataset_name_from_id_or_name(dataset, roots);
    run.model_folder = planner::model_folder_path(roots.results, name, trainer, plans, configuration);
  } else {
    NNUC_CHECK(dataset.empty(), "nnuc predict: give -m or -d, not both");
  }
  run.configuration = configuration;
  const planner::PredictFolderResult result = planner::predict_folder(run, [&](const planner::CaseReport& report,
                                                                               std::size_t index, std::size_t total) {
    if (!report.ok) {
      std::fprintf(stderr, "nnuc predict: case %s failed: %s\n", report.identifier.c_str(), report.error.c_str());
      return;
    }
    if (quiet) return;
    if (report.skipped) {
      std::printf("[%zu/%zu] %s: outputs exist, skipped (--continue)\n", index + 1, total, report.identifier.c_str());
    } else if (verbose) {
      std::printf("[%zu/%zu] %s: preprocess %.2f s, network %.2f s (%lld tiles), export %.2f s\n", index + 1, total,
                  report.identifier.c_str(), report.preprocess_seconds, report.network_seconds,
                  static_cast<long long>(report.tiles), report.export_seconds);
    } else {
      std::printf("[%zu/%zu] %s: %.2f s\n", index + 1, total, report.identifier.c_str(),
                  report.preprocess_seconds + report.network_seconds + report.export_seconds);
    }
    std::fflush(stdout);
  });
  const int failed = result.failed();
  if (!quiet)
    std::printf(
        "predicted %zu case(s) with %s, folds %s -> %s\n", result.cases.size() - failed, result.configuration.c_str(),
        [&] {
          std::string folds;
          for (const std::string& fold : result.folds) folds += (folds.empty() ? "" : " ") + fold;
          return folds;
        }()
            .c_str(),
        run.output.c_str());
  if (failed == 0) return kExitSuccess;
  std::string names;
  for (const planner::CaseReport& report : result.cases)
    if (!report.ok) names += (names.empty() ? "" : ", ") + report.identifier;
  std::fprintf(stderr, "nnuc predict: %d of %zu case(s) failed: %s\n", failed, result.cases.size(), names.c_str());
  return kExitFailure;
}

}  // namespace nnuc::tools
