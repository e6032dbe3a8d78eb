// `nnuc evaluate`: nnUNetv2_evaluate_folder (-djfile) and nnUNetv2_evaluate_simple (-l, -il) in one
// command: Dice, IoU, TP/FP/FN/TN per case and label/region, written to summary.json as nnU-Net does.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "data/evaluation/metrics.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_evaluate(int argc, char** argv) {
  std::string reference_folder, prediction_folder, output, dataset_json, plans_json;
  std::vector<std::string> positional;
  std::vector<int> labels;
  std::optional<int> ignore_label;
  int ignore_value = 0;
  int threads = 8;
  bool chill = false;
  CommandLine cli(
      "evaluate",
      "nnuc evaluate -r REFERENCE_DIR -p PREDICTION_DIR (-djfile dataset.json | -l LABEL... [-il IGNORE])\n"
      "                     [-o summary.json] [-np N] [--chill]\n"
      "       nnuc evaluate REFERENCE_DIR PREDICTION_DIR (-djfile dataset.json [-pfile plans.json] | -l ...)",
      "Compares every prediction file in PREDICTION_DIR with the file of the same name in REFERENCE_DIR\n"
      "(nnUNetv2_evaluate_folder / nnUNetv2_evaluate_simple): Dice, IoU, TP, FP, FN, TN per case and\n"
      "label (or region), their means over cases and the foreground mean, written as nnU-Net's\n"
      "summary.json. Prints the mean Dice of each label/region. The folders may also be given as\n"
      "nnU-Net's commands take them: REFERENCE_DIR PREDICTION_DIR without -r and -p.\n");
  cli.option("FOLDERS", positional, "REFERENCE_DIR PREDICTION_DIR (nnU-Net's form, instead of -r and -p)")
      ->type_name("")
      ->expected(0, 2);
  cli.option("-r", reference_folder, "folder with the reference segmentations")->type_name("DIR");
  cli.option("-p", prediction_folder, "folder with the predicted segmentations")->type_name("DIR");
  cli.option("-o", output, "output file (default: PREDICTION_DIR/summary.json)")->type_name("FILE");
  cli.option("-djfile", dataset_json, "dataset.json: its foreground labels (or regions), ignore label and file ending")
      ->type_name("FILE");
  cli.option("-pfile", plans_json, "accepted for nnU-Net's scripts; nnuc needs only dataset.json")->type_name("FILE");
  cli.option("-l", labels, "labels to evaluate (instead of -djfile)")->type_name("LABEL");
  CLI::Option* ignore_option =
      cli.option("-il", ignore_value, "ignore label (with -l): reference voxels with it are not counted")
          ->type_name("LABEL");
  cli.option("-np", threads, "cases evaluated in parallel (default 8)")->type_name("N")->check(in_range(1, 256));
  cli.flag("--chill", chill, "do not fail when PREDICTION_DIR lacks some of REFERENCE_DIR's cases");
  cli.exit_codes("evaluated, summary written", "a file could not be read or written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  if (!positional.empty()) {
    NNUC_CHECK(positional.size() == 2 && reference_folder.empty() && prediction_folder.empty(),
               "nnuc evaluate: give the folders either as REFERENCE_DIR PREDICTION_DIR or with -r and -p (got ",
               positional.size(), " folder argument(s)", reference_folder.empty() ? "" : " and -r",
               prediction_folder.empty() ? "" : " and -p", ")");
    reference_folder = positional[0];
    prediction_folder = positional[1];
  }
  NNUC_CHECK(!reference_folder.empty() && !prediction_folder.empty(),
             "nnuc evaluate: expected -r REFERENCE_DIR and -p PREDICTION_DIR (see nnuc evaluate --help)");

  NNUC_CHECK(dataset_json.empty() != labels.empty(),
             "nnuc evaluate: expected exactly one of -djfile dataset.json or -l LABEL... (see nnuc evaluate --help)");
  if (ignore_option->count() > 0) ignore_label = ignore_value;
  NNUC_CHECK(!ignore_label.has_value() || dataset_json.empty(),
             "nnuc evaluate: -il goes with -l; with -djfile the ignore label comes from dataset.json");
  if (output.empty()) output = data::join_path(prediction_folder, "summary.json");
  NNUC_CHECK(output.size() > 5 && output.compare(output.size() - 5, 5, ".json") == 0, "nnuc evaluate: -o ", output,
             " should end with .json");

  std::vector<data::LabelOrRegion> items;
  std::string file_ending;
  if (!dataset_json.empty()) {
    const data::DatasetJson dataset = data::load_dataset_json(dataset_json);
    items = data::labels_or_regions_from_dataset(dataset);
    ignore_label = dataset.ignore_label();
    file_ending = dataset.file_ending;
  } else {
    items = data::labels_from_list(labels);
    file_ending = data::detect_file_ending(reference_folder);
  }
  NNUC_CHECK(!items.empty(), "nnuc evaluate: no foreground label to evaluate");
  const nlohmann::ordered_json summary =
      data::evaluate_folders(reference_folder, prediction_folder, items, ignore_label, file_ending, threads, chill);
  data::write_summary(output, summary);

  std::printf("%-16s %s\n", "label/region", "mean Dice");
  for (const data::LabelOrRegion& item : items)
    std::printf("%-16s %.5f\n", item.key().c_str(), data::mean_dice(summary, item.key()));
  std::printf("%-16s %.5f\n", "foreground mean", data::foreground_mean_dice(summary));
  std::printf("%zu cases; wrote %s\n", summary["metric_per_case"].size(), output.c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
