// `nnuc plan`: nnU-Net's plan_and_preprocess. Verifies a raw dataset, extracts its fingerprint,
// plans 2d / 3d_fullres / 3d_lowres under a memory budget and preprocesses the chosen
// configurations (planner/plan_and_preprocess.h holds the logic).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "planner/plan_and_preprocess.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/plan_options.h"

namespace nnuc::tools {

namespace {

std::string format_bytes_gib(std::uint64_t bytes) {
  char text[48];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / 1073741824.0);
  return text;
}

}  // namespace

void PlanningArguments::declare(CommandLine& cli) {
  gpu_memory = cli.option("--gpu-memory,-gpu_memory_target", gpu_memory_gb,
                          "memory budget in GB of 2^30 bytes (default: the CUDA device's memory less a 1 GiB\n"
                          "reserve with the exact model on a GPU machine, else the planner's 8 GB)")
                   ->type_name("GB")
                   ->check(in_range(1.0 / 1024.0, 1.0e6));
  cli.option("--memory-model", memory_model,
             "exact (default: peak bytes of a shape-only run of the real training step) or nnunet\n"
             "(nnU-Net's feature-map estimate; plans equal nnU-Net's)")
      ->type_name("M");
  cli.option("--model-device", model_device,
             "device the exact model models: cuda (default; bf16 activations, cuDNN workspace at\n"
             "its cap, CUDA context overhead) or cpu (f32)")
      ->type_name("D")
      ->check(CLI::IsMember({"cuda", "cpu"}));
  cli.option("--planner,-pl", planner,
             "ExperimentPlanner (default), ResEncUNetPlanner, nnUNetPlannerResEncM|L|XL (M, L, XL)")
      ->type_name("NAME");
  cli.option("-overwrite_plans_name,--plans-name", plans_name,
             "plans name: writes <NAME>.json and data folders <NAME>_<configuration> (default nnUNetPlans,\n"
             "or the -pl preset's)")
      ->type_name("NAME");
  cli.option("-overwrite_target_spacing,--target-spacing", target_spacing,
             "3d_fullres target spacing in mm, in the raw arrays' axis order (nnU-Net's), instead of the\n"
             "fingerprint's rule; give a plans name too so the default plans are not replaced")
      ->type_name("S0 S1 S2")
      ->expected(3);
}

void PlanningArguments::apply_to(planner::PlanAndPreprocessOptions& options) const {
  if (gpu_memory && gpu_memory->count() > 0) options.gpu_memory_gb = gpu_memory_gb;
  options.memory_model = planner::memory_model_kind_from_name(memory_model);
  options.modelled_device = model_device == "cuda" ? Device::CUDA : Device::CPU;
  options.planner = planner;
  if (!plans_name.empty()) options.plans_name = plans_name;
  if (!target_spacing.empty())
    options.overwrite_target_spacing = {target_spacing[0], target_spacing[1], target_spacing[2]};
}

void print_plan_report(const planner::PlanAndPreprocessResult& result) {
  std::printf("dataset %s -> %s\n", result.plans.dataset_name.c_str(), result.output_folder.c_str());
  if (!result.verification_note.empty()) std::printf("verification: %s\n", result.verification_note.c_str());
  std::printf("fingerprint: %s\n", result.fingerprint_note.c_str());
  std::printf("memory budget: %s (%s)\n", format_bytes_gib(result.budget.budget.bytes()).c_str(),
              result.budget.source.c_str());
  for (const planner::ConfigurationOutcome& configuration : result.configurations) {
    std::printf("  %s", planner::configuration_summary(configuration.name, configuration.plan).c_str());
    if (configuration.cases_preprocessed > 0) std::printf("; %zu cases preprocessed", configuration.cases_preprocessed);
    std::printf("\n");
  }
  if (result.plans.has_cascade) std::printf("  3d_cascade_fullres: 3d_fullres fed by 3d_lowres predictions\n");
  if (result.exact_model_statistics) {
    const auto& s = *result.exact_model_statistics;
    std::printf("exact memory model: %zu shape-only training steps (%.1f ms each), %zu cached answers\n", s.meta_runs,
                s.meta_runs ? 1000.0 * s.meta_run_seconds / static_cast<double>(s.meta_runs) : 0.0, s.cache_hits);
  }
  if (!result.ground_truth_folder.empty()) {
    std::printf("gt_segmentations: %zu copied, %zu already up to date (%s)\n", result.ground_truth_copied,
                result.ground_truth_unchanged, result.ground_truth_folder.c_str());
  }
  std::printf("plans: %s\n", result.plans_file.c_str());
}

bool report_refusal(const planner::PlanAndPreprocessResult& result, const std::string& command,
                    const std::string& folder) {
  if (!result.refused) return false;
  std::printf("%s", result.verification->summary(std::numeric_limits<std::size_t>::max()).c_str());
  std::fprintf(stderr,
               "nnuc %s: refusing %s: it does not pass verification (problems above); fix them, or go on anyway "
               "with --no-verify\n",
               command.c_str(), folder.c_str());
  return true;
}

std::string preprocessed_root_or_environment(const std::string& given) {
  if (!given.empty()) return given;
  const data::NnunetRoots roots = data::NnunetRoots::from_environment();
  NNUC_CHECK(!roots.preprocessed.empty(),
             "no preprocessed root: set the environment variable nnUNet_preprocessed or give -o PREPROCESSED_DIR");
  return roots.preprocessed;
}

int run_plan(int argc, char** argv) {
  planner::PlanAndPreprocessOptions options;
  PlanningArguments planning;
  std::vector<std::string> dataset_ids;
  std::vector<std::string> configurations;
  std::vector<int> workers;
  int fingerprint_workers = 0;
  bool no_preprocess = false, no_verify = false, verify_asked = false, verbose = false, quiet = false;
  CommandLine cli(
      "plan",
      "nnuc plan (-i RAW_DATASET_DIR -o PREPROCESSED_DIR | -d ID [ID ...]) [options]\n"
      "       nnuc plan --from-fingerprint dataset_fingerprint.json --dataset-json dataset.json -o PREPROCESSED_DIR",
      "nnU-Net's plan_and_preprocess: verifies the raw dataset (refusing one with errors), extracts its\n"
      "fingerprint, plans the 2d, 3d_fullres and (for large images) 3d_lowres configurations under a memory\n"
      "budget and preprocesses them. Writes PREPROCESSED_DIR/DatasetXXX_Name/{dataset.json,\n"
      "dataset_fingerprint.json, nnUNetPlans.json, <data_identifier>/CASE.nnuc, gt_segmentations/}.\n"
      "nnU-Net's spellings (-gpu_memory_target, --no_pp, --clean, --verify_dataset_integrity, -pl, -np, -npfp,\n"
      "-c, -overwrite_plans_name, -overwrite_target_spacing, --verbose)\n"
      "are accepted, so scripts written for nnUNetv2_plan_and_preprocess work. The steps one at a time:\n"
      "nnuc extract-fingerprint, nnuc plan-experiment, nnuc preprocess.\n");
  cli.option("-i", options.raw_dataset_folder, "the raw dataset folder (dataset.json, imagesTr/, labelsTr/)")
      ->type_name("DIR");
  cli.option("-o", options.preprocessed_root, "the preprocessed root (default with -d: $nnUNet_preprocessed)")
      ->type_name("DIR");
  cli.option("-d", dataset_ids,
             "datasets under $nnUNet_raw (4, 004 or Dataset004_Hippocampus; several are planned one after\n"
             "the other, every one even when one fails)")
      ->type_name("ID|NAME");
  cli.option("-c", configurations,
             "configurations to preprocess: 2d, 3d_fullres, 3d_lowres (several after one -c as\n"
             "nnU-Net's, repeatable or comma-separated; default all); 3d_cascade_fullres stands for\n"
             "3d_fullres's data when the plans hold a cascade. The plans always hold every configuration.")
      ->type_name("CONFIG")
      ->delimiter(',');
  planning.declare(cli);
  cli.flag("--no-preprocess,--no_pp", no_preprocess, "plan only (no preprocessing, no gt_segmentations/)");
  cli.flag("--clean", options.clean,
           "extract the fingerprint anew (default: reuse dataset_fingerprint.json when\n"
           "nnuc_fingerprint_source.json shows it was made from the raw dataset as it is now)");
  cli.option("--from-fingerprint", options.fingerprint_file,
             "plan from a dataset_fingerprint.json (no images; needs --dataset-json and -o)")
      ->type_name("F");
  cli.option("--dataset-json", options.dataset_json_file, "the dataset.json that goes with --from-fingerprint")
      ->type_name("F");
  cli.option("--name", options.dataset_name,
             "output folder name DatasetXXX_Name (default: the raw folder's or the fingerprint's\n"
             "folder's)")
      ->type_name("NAME");
  cli.flag("--no-verify", no_verify, "plan even when the dataset has not passed verification");
  cli.flag("--verify_dataset_integrity", verify_asked, "accepted for nnU-Net's scripts; verification is on by default");
  cli.option("-np,--workers", workers,
             "cases processed in parallel (default: CPU cores); -np N1 N2 .. (nnU-Net's\n"
             "per-configuration counts) uses the largest")
      ->type_name("N")
      ->check(in_range(1, 256));
  cli.option("-npfp", fingerprint_workers, "cases read in parallel for the fingerprint (default: as -np)")
      ->type_name("N")
      ->check(in_range(1, 256));
  cli.flag("--verbose", verbose, "accepted for nnU-Net's scripts (progress is printed unless -q)");
  cli.flag("-q,--quiet", quiet, "no progress output");
  cli.exit_codes("planned (and preprocessed)", "dataset refused by verification or a runtime failure");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  for (const std::string& configuration : configurations) {
    if (!configuration.empty()) options.configurations.push_back(configuration);
  }
  planning.apply_to(options);
  options.preprocess = !no_preprocess;
  options.verify = !no_verify;
  for (int count : workers) options.workers = std::max(options.workers, count);
  options.fingerprint_workers = fingerprint_workers;
  NNUC_CHECK(!(verify_asked && !options.verify), "--verify_dataset_integrity and --no-verify contradict each other");
  const bool from_fingerprint = !options.fingerprint_file.empty() || !options.dataset_json_file.empty();
  if (from_fingerprint) {
    NNUC_CHECK(!options.fingerprint_file.empty() && !options.dataset_json_file.empty(),
               "--from-fingerprint and --dataset-json go together (see nnuc plan --help)");
    NNUC_CHECK(options.raw_dataset_folder.empty() && dataset_ids.empty(),
               "--from-fingerprint plans without images; do not give -i or -d with it");
    NNUC_CHECK(!options.preprocessed_root.empty(), "--from-fingerprint needs -o PREPROCESSED_DIR");
  } else {
    NNUC_CHECK(options.raw_dataset_folder.empty() != dataset_ids.empty(),
               "expected exactly one of -i RAW_DATASET_DIR or -d ID [ID ...] (see nnuc plan --help)");
    NNUC_CHECK(dataset_ids.empty() || options.dataset_name.empty() || dataset_ids.size() == 1,
               "--name names one output folder; give one dataset with it");
  }
  // Every dataset is found before any is planned, so a typo in the third id fails at once.
  std::vector<std::string> raw_folders;
  if (!options.raw_dataset_folder.empty()) raw_folders.push_back(options.raw_dataset_folder);
  if (!dataset_ids.empty()) {
    const data::NnunetRoots roots = data::NnunetRoots::from_environment();
    for (const std::string& id : dataset_ids) raw_folders.push_back(data::raw_dataset_folder(id, roots));
    if (options.preprocessed_root.empty()) {
      NNUC_CHECK(!roots.preprocessed.empty(),
                 "-d needs the environment variable nnUNet_preprocessed (or -o PREPROCESSED_DIR)");
      options.preprocessed_root = roots.preprocessed;
    }
  }
  NNUC_CHECK(!options.preprocessed_root.empty(), from_fingerprint ? "--from-fingerprint" : "-i",
             " needs -o PREPROCESSED_DIR");
  if (!quiet) options.log = [](const std::string& line) { std::fprintf(stderr, "plan: %s\n", line.c_str()); };
  if (from_fingerprint) raw_folders.push_back("");  // one run, from the fingerprint

  int status = kExitSuccess;
  for (const std::string& folder : raw_folders) {
    options.raw_dataset_folder = folder;
    const planner::PlanAndPreprocessResult result = planner::plan_and_preprocess(options);
    if (report_refusal(result, "plan", folder)) {
      status = kExitFailure;
      continue;
    }
    print_plan_report(result);
  }
  return status;
}

}  // namespace nnuc::tools
