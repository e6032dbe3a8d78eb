// `nnuc verify`: checks a raw dataset (nnU-Net's --verify_dataset_integrity and more), prints every
// problem with its path, writes the verification record that planning requires.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "data/dataset/atomic_file.h"
#include "data/dataset/raw_dataset.h"
#include "data/dataset/verification.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_verify(int argc, char** argv) {
  std::string folder, dataset, json_path;
  bool no_record = false, no_test = false, quiet = false;
  long long max_lines = 200;
  data::VerifyOptions options;
  CommandLine cli(
      "verify", "nnuc verify (-i RAW_DATASET_DIR | -d DATASET_ID_OR_NAME) [options]",
      "Checks a raw nnU-Net dataset: dataset.json, file names and channels, labels, NaN/Inf, label values,\n"
      "geometry of every case. Prints all problems with their paths. Writes DIR/nnuc_verification.json,\n"
      "which planning requires (the dataset counts as verified until it changes).\n");
  cli.option("-i", folder, "the raw dataset folder (holding dataset.json, imagesTr/, labelsTr/)")->type_name("DIR");
  cli.option("-d", dataset, "a dataset under $nnUNet_raw (4, 004 or Dataset004_Hippocampus)")->type_name("ID|NAME");
  cli.option("--json", json_path, "also write the machine-readable report to FILE ('-' = stdout, no summary)")
      ->type_name("FILE");
  cli.option("-np", options.threads, "cases read in parallel (default: CPU cores, at most 8)")
      ->type_name("N")
      ->check(in_range(1, 256));
  cli.flag("--no-record", no_record, "do not write the verification record");
  cli.flag("--no-test", no_test, "skip the imagesTs/ checks");
  cli.option("--max-lines", max_lines, "problems printed in the summary (default 200)")
      ->type_name("N")
      ->check(in_range(0LL, 1000000000LL));
  cli.flag("-q,--quiet", quiet, "no progress output");
  cli.exit_codes("no errors (warnings allowed)", "errors found or a runtime failure");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  const bool record = !no_record;
  options.check_test_images = !no_test;

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
      return kExitFailure;
    }
  }
  return report.ok() ? kExitSuccess : kExitFailure;
}

int verify_written_dataset(const std::string& dataset_folder) {
  const data::VerificationReport report = data::verify_dataset(dataset_folder);
  std::printf("%s", report.summary().c_str());
  data::write_verification_record(dataset_folder, report);
  return report.ok() ? kExitSuccess : kExitFailure;
}

}  // namespace nnuc::tools
