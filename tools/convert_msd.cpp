// `nnuc convert-msd`: nnUNetv2_convert_MSD_dataset — an MSD TaskNN_Name folder becomes
// $nnUNet_raw/DatasetNNN_Name with channels split and dataset.json converted.
#include <cstdio>
#include <string>

#include "data/dataset/msd_conversion.h"
#include "data/dataset/verification.h"
#include "tools/data_commands.h"

namespace nnuc::tools {

namespace {

void print_convert_msd_usage() {
  std::printf(
      "usage: nnuc convert-msd -i TASK_FOLDER [-o RAW_ROOT] [-overwrite_id ID] [-np N] [--verify]\n"
      "\n"
      "Converts a Medical Segmentation Decathlon task (TaskNN_Name with dataset.json, imagesTr/, labelsTr/,\n"
      "imagesTs/) into RAW_ROOT/DatasetNNN_Name: 4-D images split into CASE_0000, CASE_0001, ... files,\n"
      "labels copied, dataset.json converted (modality -> channel_names, labels inverted). Like\n"
      "nnUNetv2_convert_MSD_dataset.\n"
      "\n"
      "  -i TASK_FOLDER     the MSD task folder, e.g. Task04_Hippocampus\n"
      "  -o RAW_ROOT        where DatasetNNN_Name is created (default $nnUNet_raw)\n"
      "  -overwrite_id ID   use this dataset id instead of the task's number\n"
      "  -np N              files converted in parallel (default: CPU cores, at most 8)\n"
      "  --verify           verify the result and write its verification record\n"
      "\n"
      "exit code: 0 converted (and verified), 1 failure or verification errors, 2 usage error\n");
}

}  // namespace

int run_convert_msd(int argc, char** argv) {
  ArgCursor args("convert-msd", argc, argv);
  std::string task, output;
  bool verify = false;
  data::MsdConversionOptions options;
  options.roots_to_check = data::NnunetRoots::from_environment();
  output = options.roots_to_check.raw;
  while (!args.done()) {
    const std::string option = args.next();
    if (option == "-h" || option == "--help") {
      print_convert_msd_usage();
      return 0;
    }
    if (option == "-i")
      task = args.value(option);
    else if (option == "-o")
      output = args.value(option);
    else if (option == "-overwrite_id" || option == "--overwrite-id")
      options.overwrite_id = static_cast<int>(args.integer(option, 0, 9999));
    else if (option == "-np")
      options.threads = static_cast<int>(args.integer(option, 1, 256));
    else if (option == "--verify")
      verify = true;
    else
      args.unknown(option);
  }
  NNUC_CHECK(!task.empty(), "nnuc convert-msd: -i TASK_FOLDER is required (see nnuc convert-msd --help)");
  NNUC_CHECK(!output.empty(), "nnuc convert-msd: no output root: pass -o RAW_ROOT or set nnUNet_raw");
  const data::MsdConversionResult result = data::convert_msd_dataset(task, output, options);
  std::printf("nnuc convert-msd: %s -> %s (%d training images, %d test images, %d labels, %d channel files)\n",
              task.c_str(), result.dataset_folder.c_str(), result.training_images, result.test_images, result.labels,
              result.channels_written);
  if (!verify) return 0;
  const data::VerificationReport report = data::verify_dataset(result.dataset_folder);
  std::printf("%s", report.summary().c_str());
  data::write_verification_record(result.dataset_folder, report);
  return report.ok() ? 0 : 1;
}

}  // namespace nnuc::tools
