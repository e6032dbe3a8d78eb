// `nnuc convert-old-dataset`: nnUNetv2_convert_old_nnUNet_dataset — an nnU-Net v1 raw dataset
// (TaskXXX_Name with imagesTr/, labelsTr/, dataset.json in v1's layout) becomes
// $nnUNet_raw/DatasetXXX_Name with its files copied and dataset.json converted.
#include <cstdio>
#include <string>
#include <vector>

#include "data/dataset/msd_conversion.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_convert_old_dataset(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string output;
  bool verify = false;
  data::MsdConversionOptions options;
  options.roots_to_check = data::NnunetRoots::from_environment();
  output = options.roots_to_check.raw;
  CommandLine cli("convert-old-dataset",
                  "nnuc convert-old-dataset INPUT_FOLDER OUTPUT_DATASET_NAME [-o RAW_ROOT] [-np N] [--verify]",
                  "Converts an nnU-Net v1 raw dataset (the path of the TaskXXX_Name folder itself, with imagesTr/,\n"
                  "labelsTr/, dataset.json) into RAW_ROOT/OUTPUT_DATASET_NAME (a name following DatasetXXX_Name):\n"
                  "imagesTr/, labelsTr/ and imagesTs/, labelsTs/, imagesVal/, labelsVal/ where present are copied,\n"
                  "dataset.json is converted (modality -> channel_names, labels inverted, file_ending .nii.gz;\n"
                  "training, test, tensorImageSize and numTest dropped). Like nnUNetv2_convert_old_nnUNet_dataset.\n");
  cli.option("ARGS", positional, "INPUT_FOLDER OUTPUT_DATASET_NAME")->type_name("")->expected(2);
  cli.option("-o", output, "where the dataset is created (default $nnUNet_raw)")->type_name("RAW_ROOT");
  cli.option("-np", options.threads, "files copied in parallel (default: CPU cores, at most 8)")
      ->type_name("N")
      ->check(in_range(1, 256));
  cli.flag("--verify", verify, "verify the result and write its verification record");
  cli.exit_codes("converted (and verified)", "failure or verification errors");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  NNUC_CHECK(positional.size() == 2, "nnuc convert-old-dataset: expected INPUT_FOLDER OUTPUT_DATASET_NAME");
  NNUC_CHECK(!output.empty(), "nnuc convert-old-dataset: no output root: pass -o RAW_ROOT or set nnUNet_raw");
  const data::OldNnunetConversionResult result =
      data::convert_old_nnunet_dataset(positional[0], output, positional[1], options);
  std::printf("nnuc convert-old-dataset: %s -> %s (%d files copied)\n", positional[0].c_str(),
              result.dataset_folder.c_str(), result.files_copied);
  return verify ? verify_written_dataset(result.dataset_folder) : kExitSuccess;
}

}  // namespace nnuc::tools
