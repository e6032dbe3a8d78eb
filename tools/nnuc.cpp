// The nnuc command: the table of commands and the dispatch to them. Thin: each command parses its
// options (tools/cli.h) and calls the library; run_command (tools/commands.h) turns what it throws
// into a message and an exit code.
#include <cstdio>
#include <string>

#include "kernels/core/context.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {
namespace {

int run_version(int argc, char** argv);
int run_help(int argc, char** argv);

// Every command, in the order `nnuc help` lists them: name, one-line summary, handler. A new command
// is its file tools/<name>.cpp (handler declared in tools/commands.h) and one line here.
const Command kCommands[] = {
    {"demo", "the main job on the bundled tiny synthetic dataset: plan, train, predict, evaluate", run_demo},
    {"selfcheck", "run every kernel on CPU (and CUDA when present) against references", run_selfcheck},
    {"verify", "check a raw dataset (-i RAW_DATASET_DIR or -d ID); all problems listed", run_verify},
    {"synth", "write a synthetic nnU-Net raw dataset (--preset tiny|hippocampus|spleen)", run_synth},
    {"convert-msd", "convert a Medical Segmentation Decathlon task to nnU-Net v2's raw format", run_convert_msd},
    {"convert-old-dataset", "convert an nnU-Net v1 raw dataset to v2 (nnUNetv2_convert_old_nnUNet_dataset)",
     run_convert_old_dataset},
    {"plan", "verify, fingerprint, plan (exact memory model) and preprocess a dataset", run_plan},
    {"extract-fingerprint", "the fingerprint of a raw dataset alone (nnUNetv2_extract_fingerprint)",
     run_extract_fingerprint},
    {"plan-experiment", "plans from an extracted fingerprint, no preprocessing (nnUNetv2_plan_experiment)",
     run_plan_experiment},
    {"preprocess", "preprocess a dataset with an existing plans file (nnUNetv2_preprocess)", run_preprocess},
    {"move-plans", "reuse a dataset's plans on another, for fine-tuning (nnUNetv2_move_plans_between_datasets)",
     run_move_plans},
    {"memory", "predict the peak memory of one training step (--network, --patch, --batch)", run_memory},
    {"train", "train one fold of a configuration (nnUNetv2_train): checkpoints, logs, progress.png", run_train},
    {"predict", "predict a folder of cases with a model folder (nnuc's or nnU-Net's) to NIfTI", run_predict},
    {"evaluate", "Dice/IoU of predictions vs references, nnU-Net's summary.json (nnUNetv2_evaluate_folder)",
     run_evaluate},
    {"determine-postprocessing", "choose keep-largest-component postprocessing on predictions vs references",
     run_determine_postprocessing},
    {"postprocess", "apply a postprocessing.json to a folder of predictions (nnUNetv2_apply_postprocessing)",
     run_postprocess},
    {"ensemble", "average the probabilities of prediction folders into one segmentation (nnUNetv2_ensemble)",
     run_ensemble},
    {"accumulate-crossval", "gather and evaluate the folds' validation predictions of a configuration",
     run_accumulate_crossval},
    {"find-best", "choose the best configuration or ensemble on the cross-validation; inference instructions",
     run_find_best},
    {"plot-overlay", "PNG overlays of each training case's labels on its image (nnUNetv2_plot_overlay_pngs)",
     run_plot_overlay},
    {"export-model", "pack a dataset's trained models into a zip archive (nnUNetv2_export_model_to_zip)",
     run_export_model},
    {"install-model", "install a model archive into the results folder (nnUNetv2_install_pretrained_model_from_zip)",
     run_install_model},
    {"version", "print the version and what this build contains", run_version},
    {"help", "this text; `nnuc help COMMAND` is `nnuc COMMAND --help`", run_help},
};

const Command* find_command(const std::string& name) {
  for (const Command& command : kCommands) {
    if (name == command.name) return &command;
  }
  return nullptr;
}

void print_overview(std::FILE* out) {
  std::fprintf(out, "usage: nnuc <command> [options]      (nnuc <command> --help lists its options)\n\ncommands:\n");
  for (const Command& command : kCommands) std::fprintf(out, "  %-24s %s\n", command.name, command.summary);
  std::fprintf(out, "\n%s\n",
               exit_code_help("success", "runtime failure, or the command found problems (verify, plan)").c_str());
}

int run_version(int argc, char** argv) {
  CommandLine cli("version", "nnuc version", "Prints the version and what this build contains.\n");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  std::printf("nnuc 0.1.0 (CUDA backend: %s; CUDA device present: %s)\n",
#ifdef NNUC_WITH_CUDA
              "built",
#else
              "not built",
#endif
              cuda_available() ? "yes" : "no");
  return kExitSuccess;
}

int run_help(int argc, char** argv) {
  std::string topic;
  CommandLine cli("help", "nnuc help [COMMAND]", "Lists the commands, or shows the options of one command.\n");
  cli.option("COMMAND", topic, "the command whose options to show");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  if (topic.empty()) {
    print_overview(stdout);
    return kExitSuccess;
  }
  const Command* command = find_command(topic);
  NNUC_CHECK(command != nullptr, "nnuc help: unknown command '", topic, "' (see nnuc help)");
  char help_flag[] = "--help";
  char* arguments[] = {help_flag};
  return command->run(1, arguments);
}

}  // namespace
}  // namespace nnuc::tools

int main(int argc, char** argv) {
  using namespace nnuc::tools;
  if (argc < 2) {
    print_overview(stderr);
    return kExitUsageError;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h") name = "help";
  if (name == "--version") name = "version";
  const Command* command = find_command(name);
  if (command == nullptr) {
    std::fprintf(stderr, "nnuc: unknown command '%s'\n\n", name.c_str());
    print_overview(stderr);
    return kExitUsageError;
  }
  return run_command(*command, argc - 2, argv + 2);
}
