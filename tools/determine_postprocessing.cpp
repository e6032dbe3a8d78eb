// `nnuc determine-postprocessing`: nnUNetv2_determine_postprocessing. Chooses nnU-Net's
// keep-largest-component steps on (cross-validation) predictions vs their references and writes
// PRED/postprocessing.json, PRED/postprocessed/ and PRED/summary.json.
#include <cstdio>
#include <filesystem>
#include <string>

#include "data/dataset/dataset_json.h"
#include "data/evaluation/metrics.h"
#include "data/postprocess/postprocess.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_determine_postprocessing(int argc, char** argv) {
  std::string prediction_folder, reference_folder, dataset_json, plans_json;
  int threads = 8;
  bool remove_postprocessed = false;
  CommandLine cli(
      "determine-postprocessing",
      "nnuc determine-postprocessing -i PREDICTION_DIR -ref REFERENCE_DIR [-djfile dataset.json] [-np N]",
      "Decides whether keeping only the largest connected component (of the whole foreground, then of\n"
      "each label/region) improves the Dice of the predictions in PREDICTION_DIR against REFERENCE_DIR\n"
      "(nnUNetv2_determine_postprocessing). Writes PREDICTION_DIR/summary.json, postprocessing.json\n"
      "(for `nnuc postprocess -pp`) and postprocessed/ (the postprocessed cases and their summary.json).\n");
  cli.option("-i", prediction_folder, "folder with the predictions (e.g. crossval_results_folds_0_1_2_3_4)")
      ->type_name("DIR")
      ->required();
  cli.option("-ref", reference_folder, "folder with the reference segmentations")->type_name("DIR")->required();
  cli.option("-djfile,-dataset_json", dataset_json, "dataset.json (default: PREDICTION_DIR/dataset.json)")
      ->type_name("FILE");
  cli.option("-plans_json", plans_json, "accepted for nnU-Net's scripts; nnuc needs only dataset.json")
      ->type_name("FILE");
  cli.option("-np", threads, "cases processed in parallel (default 8)")->type_name("N")->check(in_range(1, 256));
  cli.flag("--remove_postprocessed", remove_postprocessed,
           "remove PREDICTION_DIR/postprocessed/ when done (nnU-Net's; postprocessing.json is kept)");
  cli.exit_codes("postprocessing determined and written", "a file could not be read or written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  if (dataset_json.empty()) {
    dataset_json = data::join_path(prediction_folder, "dataset.json");
    NNUC_CHECK(std::filesystem::is_regular_file(dataset_json), "nnuc determine-postprocessing: ", dataset_json,
               " does not exist; pass the dataset's dataset.json with -djfile");
  }
  const data::DatasetJson dataset = data::load_dataset_json(dataset_json);
  const std::vector<data::LabelOrRegion> items = data::labels_or_regions_from_dataset(dataset);
  NNUC_CHECK(!items.empty(), "nnuc determine-postprocessing: ", dataset_json, " declares no foreground label");
  const data::PostprocessingResult result = data::determine_postprocessing(
      prediction_folder, reference_folder, items, dataset.ignore_label(), dataset.file_ending, threads);
  if (!result.missing_predictions.empty())
    std::fprintf(stderr,
                 "nnuc determine-postprocessing: warning: %zu reference case(s) have no prediction (first: %s); "
                 "postprocessing should be determined on the whole dataset\n",
                 result.missing_predictions.size(), result.missing_predictions.front().c_str());
  for (const std::string& message : result.messages) std::printf("%s\n", message.c_str());
  if (remove_postprocessed) {
    const std::string postprocessed = data::join_path(prediction_folder, "postprocessed");
    std::error_code error;
    std::filesystem::remove_all(postprocessed, error);
    if (error) NNUC_THROW(IoError, postprocessed, ": cannot be removed (--remove_postprocessed): ", error.message());
  }
  std::printf("foreground mean Dice %.5f -> %.5f with %zu step(s); wrote %s\n",
              data::foreground_mean_dice(result.input_summary),
              data::foreground_mean_dice(result.postprocessed_summary), result.steps.size(),
              data::join_path(prediction_folder, "postprocessing.json").c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
