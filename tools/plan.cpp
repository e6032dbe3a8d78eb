// `nnuc plan`: nnU-Net's plan_and_preprocess. Verifies a raw dataset, extracts its fingerprint,
// plans 2d / 3d_fullres / 3d_lowres under a memory budget and preprocesses the chosen
// configurations (planner/plan_and_preprocess.h holds the logic).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "planner/plan_and_preprocess.h"
#include "tools/data_commands.h"
#include "tools/plan.h"

namespace nnuc::tools {

namespace {

void print_plan_usage() {
  std::printf(
      "usage: nnuc plan (-i RAW_DATASET_DIR -o PREPROCESSED_DIR | -d ID) [options]\n"
      "       nnuc plan --from-fingerprint dataset_fingerprint.json --dataset-json dataset.json -o PREPROCESSED_DIR\n"
      "\n"
      "nnU-Net's plan_and_preprocess: verifies the raw dataset (refusing one with errors), extracts its\n"
      "fingerprint, plans the 2d, 3d_fullres and (for large images) 3d_lowres configurations under a memory\n"
      "budget and preprocesses them. Writes PREPROCESSED_DIR/DatasetXXX_Name/{dataset.json,\n"
      "dataset_fingerprint.json, nnUNetPlans.json, <data_identifier>/CASE.nnuc, gt_segmentations/}.\n"
      "nnU-Net's spellings (-gpu_memory_target, --no_pp, --clean, --verify_dataset_integrity, -pl, -np, -c)\n"
      "are accepted, so scripts written for nnUNetv2_plan_and_preprocess work.\n"
      "\n"
      "  -i DIR                 the raw dataset folder (dataset.json, imagesTr/, labelsTr/)\n"
      "  -o DIR                 the preprocessed root (default with -d: $nnUNet_preprocessed)\n"
      "  -d ID|NAME             a dataset under $nnUNet_raw (4, 004 or Dataset004_Hippocampus)\n"
      "  -c CONFIG ..           configurations to preprocess: 2d, 3d_fullres, 3d_lowres (several after one\n"
      "                         -c as nnU-Net's, repeatable or comma-separated; default all). The plans\n"
      "                         always hold every configuration.\n"
      "  --gpu-memory GB, -gpu_memory_target GB\n"
      "                         memory budget in GB of 2^30 bytes (default: the CUDA device's memory less a\n"
      "                         1 GiB reserve with the exact model on a GPU machine, else the planner's 8 GB)\n"
      "  --memory-model M       exact (default: peak bytes of a shape-only run of the real training step)\n"
      "                         or nnunet (nnU-Net's feature-map estimate; plans equal nnU-Net's)\n"
      "  --model-device D       device the exact model models: cuda (default; bf16 activations, cuDNN\n"
      "                         workspace at its cap, CUDA context overhead) or cpu (f32)\n"
      "  --planner NAME, -pl NAME\n"
      "                         ExperimentPlanner (default), ResEncUNetPlanner, nnUNetPlannerResEncM|L|XL (M, L, XL)\n"
      "  --no-preprocess, --no_pp  plan only (no preprocessing, no gt_segmentations/)\n"
      "  --clean                extract the fingerprint anew (default: reuse dataset_fingerprint.json when\n"
      "                         nnuc_fingerprint_source.json shows it was made from the raw dataset as it is now)\n"
      "  --from-fingerprint F   plan from a dataset_fingerprint.json (no images; needs --dataset-json and -o)\n"
      "  --dataset-json F       the dataset.json that goes with --from-fingerprint\n"
      "  --name DatasetXXX_Name output folder name (default: the raw folder's or the fingerprint's folder's)\n"
      "  --no-verify            plan even when the dataset has not passed verification\n"
      "  --verify_dataset_integrity  accepted for nnU-Net's scripts; verification is on by default\n"
      "  -np, --workers N       cases processed in parallel (default: CPU cores); -np N1 N2 .. (nnU-Net's\n"
      "                         per-configuration counts) uses the largest\n"
      "  -q                     no progress output\n"
      "\n"
      "exit code: 0 planned (and preprocessed), 1 dataset refused or runtime failure, 2 usage error\n");
}

void add_configurations(const std::string& text, std::vector<std::string>& out) {
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
}

// nnU-Net's -c and -np take several values after one flag (argparse nargs='+'); ArgCursor takes one.
// "-c 2d 3d_fullres" becomes "-c 2d -c 3d_fullres", "-np 8 4" becomes "-np 8 -np 4".
std::vector<std::string> split_multi_value_options(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    const std::string option = argv[i];
    out.push_back(option);
    if (option != "-c" && option != "-np") continue;
    for (int values = 0; i + 1 < argc && argv[i + 1][0] != '-'; ++values) {
      if (values > 0) out.push_back(option);
      out.push_back(argv[++i]);
    }
  }
  return out;
}

std::string format_bytes_gib(std::uint64_t bytes) {
  char text[48];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / 1073741824.0);
  return text;
}

}  // namespace

int run_plan(int argc, char** argv) {
  std::vector<std::string> arguments = split_multi_value_options(argc, argv);
  std::vector<char*> pointers;
  for (std::string& argument : arguments) pointers.push_back(argument.data());
  ArgCursor args("plan", static_cast<int>(pointers.size()), pointers.data());
  planner::PlanAndPreprocessOptions options;
  std::string dataset_id;
  bool quiet = false;
  bool verify_asked = false;
  while (!args.done()) {
    const std::string option = args.next();
    if (option == "-h" || option == "--help") {
      print_plan_usage();
      return 0;
    }
    if (option == "-i")
      options.raw_dataset_folder = args.value(option);
    else if (option == "-o")
      options.preprocessed_root = args.value(option);
    else if (option == "-d")
      dataset_id = args.value(option);
    else if (option == "-c")
      add_configurations(args.value(option), options.configurations);
    else if (option == "--gpu-memory" || option == "-gpu_memory_target")
      options.gpu_memory_gb = args.real(option, 1.0 / 1024.0, 1.0e6);
    else if (option == "--memory-model")
      options.memory_model = planner::memory_model_kind_from_name(args.value(option));
    else if (option == "--model-device") {
      const std::string device = args.value(option);
      NNUC_CHECK(device == "cuda" || device == "cpu", "--model-device = '", device,
                 "': expected cuda or cpu");
      options.modelled_device = device == "cuda" ? Device::CUDA : Device::CPU;
    } else if (option == "--planner" || option == "-pl")
      options.planner = args.value(option);
    else if (option == "--no-preprocess" || option == "--no_pp")
      options.preprocess = false;
    else if (option == "--clean")
      options.clean = true;
    else if (option == "--verify_dataset_integrity")
      verify_asked = true;
    else if (option == "--from-fingerprint")
      options.fingerprint_file = args.value(option);
    else if (option == "--dataset-json")
      options.dataset_json_file = args.value(option);
    else if (option == "--name")
      options.dataset_name = args.value(option);
    else if (option == "--no-verify")
      options.verify = false;
    else if (option == "-np" || option == "--workers")
      options.workers = std::max(options.workers, static_cast<int>(args.integer(option, 1, 256)));
    else if (option == "-q" || option == "--quiet")
      quiet = true;
    else
      args.unknown(option);
  }
  NNUC_CHECK(!(verify_asked && !options.verify), "--verify_dataset_integrity and --no-verify contradict each other");
  const bool from_fingerprint = !options.fingerprint_file.empty() || !options.dataset_json_file.empty();
  if (from_fingerprint) {
    NNUC_CHECK(!options.fingerprint_file.empty() && !options.dataset_json_file.empty(),
               "--from-fingerprint and --dataset-json go together (see nnuc plan --help)");
    NNUC_CHECK(options.raw_dataset_folder.empty() && dataset_id.empty(),
               "--from-fingerprint plans without images; do not give -i or -d with it");
    NNUC_CHECK(!options.preprocessed_root.empty(), "--from-fingerprint needs -o PREPROCESSED_DIR");
  } else {
    NNUC_CHECK(options.raw_dataset_folder.empty() != dataset_id.empty(),
               "expected exactly one of -i RAW_DATASET_DIR or -d ID (see nnuc plan --help)");
    if (!dataset_id.empty()) {
      const data::NnunetRoots roots = data::NnunetRoots::from_environment();
      options.raw_dataset_folder = data::raw_dataset_folder(dataset_id, roots);
      if (options.preprocessed_root.empty()) {
        NNUC_CHECK(!roots.preprocessed.empty(),
                   "-d needs the environment variable nnUNet_preprocessed (or -o PREPROCESSED_DIR)");
        options.preprocessed_root = roots.preprocessed;
      }
    }
    NNUC_CHECK(!options.preprocessed_root.empty(), "-i needs -o PREPROCESSED_DIR");
  }
  if (!quiet) options.log = [](const std::string& line) { std::fprintf(stderr, "plan: %s\n", line.c_str()); };

  const planner::PlanAndPreprocessResult result = planner::plan_and_preprocess(options);
  if (result.refused) {
    std::printf("%s", result.verification->summary(std::numeric_limits<std::size_t>::max()).c_str());
    std::fprintf(stderr,
                 "nnuc plan: refusing to plan %s: it does not pass verification (problems above); fix them, or "
                 "plan anyway with --no-verify\n",
                 options.raw_dataset_folder.c_str());
    return 1;
  }
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
  return 0;
}

}  // namespace nnuc::tools
