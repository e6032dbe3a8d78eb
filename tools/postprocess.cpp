// `nnuc postprocess`: nnUNetv2_apply_postprocessing. Applies the steps of a postprocessing.json
// (written by `nnuc determine-postprocessing` or by nnU-Net) to every prediction of a folder.
#include "data/postprocess/postprocess.h"

#include <cstdio>
#include <filesystem>
#include <string>

#include "data/dataset/dataset_json.h"
#include "data/evaluation/metrics.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_postprocess(int argc, char** argv) {
  std::string input_folder, output_folder, postprocessing_json, dataset_json;
  int threads = 8;
  CommandLine cli("postprocess", "nnuc postprocess -i INPUT_DIR -o OUTPUT_DIR -pp postprocessing.json [-np N]",
                  "Applies the postprocessing chosen by `nnuc determine-postprocessing` (keep the largest\n"
                  "component of the listed labels/regions, step after step) to every prediction in INPUT_DIR and\n"
                  "writes the results with the inputs' geometry to OUTPUT_DIR (nnUNetv2_apply_postprocessing).\n"
                  "The file ending is dataset.json's (-dataset_json, else INPUT_DIR/dataset.json when present),\n"
                  "else .nii.gz or .nii as found in INPUT_DIR.\n");
  cli.option("-i", input_folder, "folder with the predictions")->type_name("DIR")->required();
  cli.option("-o", output_folder, "output folder (may be INPUT_DIR)")->type_name("DIR")->required();
  cli.option("-pp", postprocessing_json, "postprocessing.json (nnuc's or nnU-Net's)")->type_name("FILE")->required();
  cli.option("-dataset_json", dataset_json, "dataset.json giving the file ending")->type_name("FILE");
  cli.option("-np", threads, "cases processed in parallel (default 8)")->type_name("N")->check(in_range(1, 256));
  cli.exit_codes("every case postprocessed and written", "a file could not be read or written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  const std::string default_dataset_json = data::join_path(input_folder, "dataset.json");
  if (dataset_json.empty() && std::filesystem::is_regular_file(default_dataset_json))
    dataset_json = default_dataset_json;
  const std::string file_ending = dataset_json.empty() ? "" : data::load_dataset_json(dataset_json).file_ending;
  const std::vector<data::PostprocessingStep> steps = data::load_postprocessing(postprocessing_json);
  data::apply_postprocessing(input_folder, output_folder, steps, threads, file_ending);
  std::printf("applied %zu postprocessing step(s) to %s; wrote %s\n", steps.size(), input_folder.c_str(),
              output_folder.c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
