// `nnuc convert-msd`: nnUNetv2_convert_MSD_dataset — an MSD TaskNN_Name folder becomes
// $nnUNet_raw/DatasetNNN_Name with channels split and dataset.json converted.
#include <cstdio>
#include <string>

#include "data/dataset/msd_conversion.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_convert_msd(int argc, char** argv) {
  std::string task, output;
  bool verify = false;
  data::MsdConversionOptions options;
  options.roots_to_check = data::NnunetRoots::from_environment();
  output = options.roots_to_check.raw;
  CommandLine cli(
      "convert-msd", "nnuc convert-msd -i TASK_FOLDER [-o RAW_ROOT] [-overwrite_id ID] [-np N] [--verify]",
      "Converts a Medical Segmentation Decathlon task (TaskNN_Name with dataset.json, imagesTr/, labelsTr/,\n"
      "imagesTs/) into RAW_ROOT/DatasetNNN_Name: 4-D images split into CASE_0000, CASE_0001, ... files,\n"
      "labels copied, dataset.json converted (modality -> channel_names, labels inverted). Like\n"
      "nnUNetv2_convert_MSD_dataset.\n");
  cli.option("-i", task, "the MSD task folder, e.g. Task04_Hippocampus")->type_name("TASK_FOLDER");
  cli.option("-o", output, "where DatasetNNN_Name is created (default $nnUNet_raw)")->type_name("RAW_ROOT");
  int overwrite_id = 0;
  CLI::Option* overwrite =
      cli.option("-overwrite_id,--overwrite-id", overwrite_id, "use this dataset id instead of the task's number")
          ->type_name("ID")
          ->check(in_range(0, 9999));
  cli.option("-np", options.threads, "files converted in parallel (default: CPU cores, at most 8)")
      ->type_name("N")
      ->check(in_range(1, 256));
  cli.flag("--verify", verify, "verify the result and write its verification record");
  cli.exit_codes("converted (and verified)", "failure or verification errors");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  if (overwrite->count() > 0) options.overwrite_id = overwrite_id;
  NNUC_CHECK(!task.empty(), "nnuc convert-msd: -i TASK_FOLDER is required (see nnuc convert-msd --help)");
  NNUC_CHECK(!output.empty(), "nnuc convert-msd: no output root: pass -o RAW_ROOT or set nnUNet_raw");
  const data::MsdConversionResult result = data::convert_msd_dataset(task, output, options);
  std::printf("nnuc convert-msd: %s -> %s (%d training images, %d test images, %d labels, %d channel files)\n",
              task.c_str(), result.dataset_folder.c_str(), result.training_images, result.test_images, result.labels,
              result.channels_written);
  return verify ? verify_written_dataset(result.dataset_folder) : kExitSuccess;
}

}  // namespace nnuc::tools
