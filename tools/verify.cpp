// `nnuc verify`: checks a raw dataset (nnU-Net's --verify_dataset_integrity and more), prints every
// problem with its path, writes the verification record that planning requires.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "data/dataset/atomic_file.h"
#include "data/dataset/raw_dataset.h"
#include "data/dataset/verification.h"
#include "tools/data_commands.h"

namespace nnuc::tools {

namespace {

void print_verify_usage() {
  std::printf(
      "usage: nnuc verify (-i RAW_DATASET_DIR | -d DATASET_ID_OR_NAME) [options]\n"
      "\n"
      "Checks a raw nnU-Net dataset: dataset.json, file names and channels, labels, NaN/Inf, label values,\n"
      "geometry of every case. Prints all problems with their paths. Writes DIR/nnuc_verification.json,\n"
      "which planning requires (the dataset counts as verified until it changes).\n"
      "\n"
      "  -i DIR          the raw dataset folder (holding dataset.json, imagesTr/, labelsTr/)\n"
      "  -d ID|NAME      a dataset under $nnUNet_raw (4, 004 or Dataset004_Hippocampus)\n"
      "  --json FILE     also write the machine-readable report to FILE ('-' = stdout, no summary)\n"
      "  -np N           cases read in parallel (default: CPU cores, at most 8)\n"
      "  --no-record     do not write the verification record\n"
      "  --no-test       skip the imagesTs/ checks\n"
      "  --max-lines N   problems printed in the summary (default 200)\n"
      "  -q              no progress output\n"
      "\n"
      "exit code: 0 no errors (warnings allowed), 1 errors found, 2 usage error\n");
}

}  // namespace

int run_verify(int argc, char** argv) {
  ArgCursor args("verify", argc, argv);
  std::string folder, dataset, json_path;
  bool record = true, quiet = false;
  long long max_lines = 200;
  data::VerifyOptions options;
  while (!args.done()) {
    const std::string option = args.next();
    if (option == "-h" || option == "--help") {
      print_verify_usage();
      return 0;
    }
    if (option == "-i")
      folder = args.value(option);
    else if (option == "-d")
      dataset = args.value(option);
    else if (option == "--json")
      json_path = args.value(option);
    else if (option == "-np")
      options.threads = static_cast<int>(args.integer(option, 1, 256));
    else if (option == "--no-record")
      record = false;
    else if (option == "--no-test")
      options.check_test_images = false;
    else if (option == "--max-lines")
      max_lines = args.integer(option, 0, 1000000000);
    else if (option == "-q" || option == "--quiet")
      quiet = true;
    else
      args.unknown(option);
  }
  NNUC_CHECK(folder.empty() != dataset.empty(),
             "nnuc verify: expected exactly one of -i DIR or -d ID (see nnuc verify --help)");
  if (!dataset.empty()) folder = data::raw_dataset_folder(dataset, data::NnunetRoots::from_environment());

  const bool json_to_stdout = json_path == "-";
  if (!quiet && ::isatty(::fileno(stderr))) {
    options.progress = [](std::size_t done, std::size_t total) {
      std::fprintf(stderr, "\rverify: %zu/%zu cases", done, total);
      if (done == total) std::fprintf(stderr, "\n");
    };
  }
  const data::VerificationReport report = data::verify_dataset(folder, options);
  if (json_to_stdout) {
    std::printf("%s\n", report.to_json().dump(2).c_str());
  } else {
    std::printf("%s", report.summary(static_cast<std::size_t>(max_lines)).c_str());
    if (!json_path.empty()) data::write_file_atomic(json_path, report.to_json().dump(2) + "\n");
  }
  if (record && report.with_code("dataset_folder_missing").empty() &&
      report.with_code("dataset_json_missing").empty()) {
    try {
      data::write_verification_record(folder, report);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "nnuc verify: could not write the verification record: %s\n", e.what());
      return 1;
    }
  }
  return report.ok() ? 0 : 1;
}

}  // namespace nnuc::tools
