// `nnuc extract-fingerprint`: nnU-Net's nnUNetv2_extract_fingerprint, the first step of `nnuc plan`
// alone: verify the raw dataset and write its dataset_fingerprint.json (with dataset.json and the
// source record) into the preprocessed folder, for `nnuc plan-experiment` to plan from.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "planner/plan_and_preprocess.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/plan_options.h"

namespace nnuc::tools {

int run_extract_fingerprint(int argc, char** argv) {
  std::string raw_folder, preprocessed_root, extractor = "DatasetFingerprintExtractor";
  std::vector<std::string> dataset_ids;
  std::vector<int> workers;
  bool clean = false, no_verify = false, verify_asked = false, verbose = false, quiet = false;
  CommandLine cli("extract-fingerprint",
                  "nnuc extract-fingerprint (-d ID [ID ...] | -i RAW_DATASET_DIR -o PREPROCESSED_DIR) [options]",
                  "nnU-Net's nnUNetv2_extract_fingerprint: verifies each raw dataset (refusing one with errors) and\n"
                  "writes PREPROCESSED_DIR/DatasetXXX_Name/{dataset_fingerprint.json, dataset.json}: per case the\n"
                  "spacing and the shape after cropping to the nonzero region, and per channel the intensity\n"
                  "statistics of foreground voxels. An existing fingerprint made from the raw dataset as it is now is\n"
                  "kept (--clean extracts anew). Next: nnuc plan-experiment, then nnuc preprocess (or nnuc plan\n"
                  "for all three steps).\n");
  cli.option("-d", dataset_ids, "datasets under $nnUNet_raw (4, 004 or Dataset004_Hippocampus; several allowed)")
      ->type_name("ID");
  cli.option("-i", raw_folder, "a raw dataset folder (dataset.json, imagesTr/, labelsTr/) instead of -d")
      ->type_name("DIR");
  cli.option("-o", preprocessed_root, "the preprocessed root (default: $nnUNet_preprocessed)")->type_name("DIR");
  cli.option("-fpe", extractor,
             "fingerprint extractor class (nnU-Net's; only DatasetFingerprintExtractor, the one nnuc implements)")
      ->type_name("NAME")
      ->check(CLI::IsMember({"DatasetFingerprintExtractor"}));
  cli.option("-np,--workers", workers, "cases read in parallel (default: CPU cores)")
      ->type_name("N")
      ->check(in_range(1, 256));
  cli.flag("--clean", clean, "extract anew even when the existing fingerprint was made from the dataset as it is now");
  cli.flag("--no-verify", no_verify, "extract even when the dataset has not passed verification");
  cli.flag("--verify_dataset_integrity", verify_asked, "accepted for nnU-Net's scripts; verification is on by default");
  cli.flag("--verbose", verbose, "accepted for nnU-Net's scripts (progress is printed unless -q)");
  cli.flag("-q,--quiet", quiet, "no progress output");
  cli.exit_codes("fingerprints written (or up to date)", "a dataset refused by verification, or a runtime failure");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  NNUC_CHECK(!(verify_asked && no_verify), "--verify_dataset_integrity and --no-verify contradict each other");
  NNUC_CHECK(raw_folder.empty() != dataset_ids.empty(),
             "expected -d ID [ID ...] or -i RAW_DATASET_DIR (see nnuc extract-fingerprint --help)");

  const data::NnunetRoots roots = data::NnunetRoots::from_environment();
  preprocessed_root = preprocessed_root_or_environment(preprocessed_root);
  // Every dataset is found before any is read, so a typo in the third id fails at once.
  std::vector<std::string> raw_folders;
  if (!raw_folder.empty()) raw_folders.push_back(raw_folder);
  for (const std::string& id : dataset_ids) raw_folders.push_back(data::raw_dataset_folder(id, roots));

  int status = kExitSuccess;
  for (const std::string& folder : raw_folders) {
    planner::PlanAndPreprocessOptions options;
    options.raw_dataset_folder = folder;
    options.preprocessed_root = preprocessed_root;
    options.plan = false;
    options.clean = clean;
    options.verify = !no_verify;
    for (int count : workers) options.workers = std::max(options.workers, count);
    if (!quiet)
      options.log = [](const std::string& line) { std::fprintf(stderr, "extract-fingerprint: %s\n", line.c_str()); };
    const planner::PlanAndPreprocessResult result = planner::plan_and_preprocess(options);
    if (report_refusal(result, "extract-fingerprint", folder)) {
      status = kExitFailure;
      continue;
    }
    std::printf("dataset %s -> %s\n", folder.c_str(), result.output_folder.c_str());
    if (!result.verification_note.empty()) std::printf("verification: %s\n", result.verification_note.c_str());
    std::printf("fingerprint: %s (%.1f s)\n", result.fingerprint_note.c_str(), result.fingerprint_seconds);
    std::printf("written: %s/dataset_fingerprint.json\n", result.output_folder.c_str());
  }
  return status;
}

}  // namespace nnuc::tools
