// `nnuc postprocess`: nnUNetv2_apply_postprocessing. Applies the steps of a postprocessing.json
// (written by `nnuc determine-postprocessing` or by nnU-Net) or of nnU-Net's postprocessing.pkl to
// every prediction of a folder.
#include "data/postprocess/postprocess.h"

#include <cstdio>
#include <filesystem>
#include <string>

#include "data/dataset/dataset_json.h"
#include "data/evaluation/metrics.h"
#include "nn/pth/postprocessing_pickle.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_postprocess(int argc, char** argv) {
  std::string input_folder, output_folder, postprocessing_file, pickle_file, dataset_json, plans_json;
  int threads = 8;
  CommandLine cli(
      "postprocess",
      "nnuc postprocess -i INPUT_DIR -o OUTPUT_DIR (-pp postprocessing.json | -pp_pkl_file postprocessing.pkl) [-np N]",
      "Applies the postprocessing chosen by `nnuc determine-postprocessing` (keep the largest\n"
      "component of the listed labels/regions, step after step) to every prediction in INPUT_DIR and\n"
      "writes the results with the inputs' geometry to OUTPUT_DIR (nnUNetv2_apply_postprocessing).\n"
      "The file ending is dataset.json's (-dataset_json, else INPUT_DIR/dataset.json when present),\n"
      "else .nii.gz or .nii as found in INPUT_DIR. nnU-Net's postprocessing.pkl is read without running\n"
      "anything in it: only nnU-Net's postprocessing function and integer labels are accepted.\n");
  cli.option("-i", input_folder, "folder with the predictions")->type_name("DIR")->required();
  cli.option("-o", output_folder, "output folder (may be INPUT_DIR)")->type_name("DIR")->required();
  cli.option("-pp", postprocessing_file, "postprocessing.json (nnuc's or nnU-Net's) or nnU-Net's postprocessing.pkl")
      ->type_name("FILE");
  cli.option("-pp_pkl_file", pickle_file, "nnU-Net's spelling: postprocessing.pkl (or .json) as written by nnU-Net")
      ->type_name("FILE");
  cli.option("-dataset_json", dataset_json, "dataset.json giving the file ending")->type_name("FILE");
  cli.option("-plans_json", plans_json, "accepted for nnU-Net's scripts; nnuc needs only dataset.json")
      ->type_name("FILE");
  cli.option("-np", threads, "cases processed in parallel (default 8)")->type_name("N")->check(in_range(1, 256));
  cli.exit_codes("every case postprocessed and written", "a file could not be read or written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  NNUC_CHECK(postprocessing_file.empty() != pickle_file.empty(),
             "expected one of -pp FILE or -pp_pkl_file FILE (see nnuc postprocess --help)");
  const std::string& steps_file = postprocessing_file.empty() ? pickle_file : postprocessing_file;

  const std::string default_dataset_json = data::join_path(input_folder, "dataset.json");
  if (dataset_json.empty() && std::filesystem::is_regular_file(default_dataset_json))
    dataset_json = default_dataset_json;
  const std::string file_ending = dataset_json.empty() ? "" : data::load_dataset_json(dataset_json).file_ending;
  const std::vector<data::PostprocessingStep> steps =
      nn::looks_like_pickle(steps_file)
          ? data::postprocessing_steps_from_json(nn::read_postprocessing_pickle(steps_file), steps_file)
          : data::load_postprocessing(steps_file);
  data::apply_postprocessing(input_folder, output_folder, steps, threads, file_ending);
  std::printf("applied %zu postprocessing step(s) to %s; wrote %s\n", steps.size(), input_folder.c_str(),
              output_folder.c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
