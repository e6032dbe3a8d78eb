// `nnuc plan-experiment`: nnU-Net's nnUNetv2_plan_experiment, the planning step of `nnuc plan` alone:
// plans the configurations of each dataset from the fingerprint `nnuc extract-fingerprint` (or nnU-Net)
// left in its preprocessed folder, and writes the plans file beside it. Nothing is preprocessed.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "planner/plan_and_preprocess.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/plan_options.h"

namespace nnuc::tools {

namespace fs = std::filesystem;

int run_plan_experiment(int argc, char** argv) {
  PlanningArguments planning;
  std::vector<std::string> dataset_ids;
  std::string preprocessed_root, preprocessor = "DefaultPreprocessor";
  bool quiet = false;
  CommandLine cli("plan-experiment", "nnuc plan-experiment -d ID [ID ...] [options]",
                  "nnU-Net's nnUNetv2_plan_experiment: plans the 2d, 3d_fullres and (for large images) 3d_lowres\n"
                  "configurations of each dataset under a memory budget, from the dataset_fingerprint.json in\n"
                  "$nnUNet_preprocessed/DatasetXXX_Name/ (written by nnuc extract-fingerprint or by nnU-Net), and\n"
                  "writes the plans file there (nnUNetPlans.json, or -overwrite_plans_name's). dataset.json is read\n"
                  "from $nnUNet_raw/DatasetXXX_Name/ as nnU-Net does, or from the preprocessed folder when the raw\n"
                  "dataset is not there. Next: nnuc preprocess.\n");
  cli.option("-d", dataset_ids, "datasets (4, 004 or Dataset004_Hippocampus; several allowed)")
      ->type_name("ID")
      ->required();
  cli.option("-o", preprocessed_root, "the preprocessed root (default: $nnUNet_preprocessed)")->type_name("DIR");
  planning.declare(cli);
  cli.option("-preprocessor_name", preprocessor,
             "preprocessor class written into the plans (nnU-Net's; only DefaultPreprocessor, the one nnuc "
             "implements)")
      ->type_name("NAME")
      ->check(CLI::IsMember({"DefaultPreprocessor"}));
  cli.flag("-q,--quiet", quiet, "no progress output");
  cli.exit_codes("planned", "a runtime failure");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  const data::NnunetRoots roots = data::NnunetRoots::from_environment();
  preprocessed_root = preprocessed_root_or_environment(preprocessed_root);
  // Every dataset's inputs are found before anything is planned.
  std::vector<planner::PlanAndPreprocessOptions> runs;
  for (const std::string& id : dataset_ids) {
    data::NnunetRoots search = roots;
    search.preprocessed = preprocessed_root;
    const std::string name = data::dataset_name_from_id_or_name(id, search);
    const fs::path folder = fs::path(preprocessed_root) / name;
    planner::PlanAndPreprocessOptions options;
    options.fingerprint_file = (folder / "dataset_fingerprint.json").string();
    NNUC_CHECK(fs::is_regular_file(options.fingerprint_file), options.fingerprint_file,
               ": no such file; extract the fingerprint first (nnuc extract-fingerprint -d ", id, ")");
    const fs::path raw_json = roots.raw.empty() ? fs::path() : fs::path(roots.raw) / name / "dataset.json";
    options.dataset_json_file =
        !raw_json.empty() && fs::is_regular_file(raw_json) ? raw_json.string() : (folder / "dataset.json").string();
    NNUC_CHECK(fs::is_regular_file(options.dataset_json_file), "dataset ", name,
               ": no dataset.json, neither in $nnUNet_raw (", roots.raw.empty() ? "not set" : roots.raw, ") nor in ",
               folder.string());
    options.preprocessed_root = preprocessed_root;
    options.dataset_name = name;
    options.preprocess = false;
    planning.apply_to(options);
    if (!quiet)
      options.log = [](const std::string& line) { std::fprintf(stderr, "plan-experiment: %s\n", line.c_str()); };
    runs.push_back(std::move(options));
  }
  for (const planner::PlanAndPreprocessOptions& options : runs) {
    const planner::PlanAndPreprocessResult result = planner::plan_and_preprocess(options);
    std::printf("dataset.json: %s\n", options.dataset_json_file.c_str());
    print_plan_report(result);
  }
  return kExitSuccess;
}

}  // namespace nnuc::tools
