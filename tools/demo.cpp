// `nnuc demo`: the main job on the bundled default data, end to end: write the tiny synthetic dataset
// (deterministic from its seed; 5 training cases and 3 held-out test cases with references), verify,
// fingerprint, plan and preprocess it, run the kernel and training self-check, train the 2d
// configuration (fold 0; a short schedule on the CPU, a longer one on a GPU), predict the held-out
// cases and evaluate them against their references: Dice per label and the paths of every output.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/core/context.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {
namespace {

int run_with(CommandHandler command, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  std::fflush(stdout);
  return command(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

int run_demo(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::string folder = "nnuc_demo";
  const bool gpu = cuda_available();
  int epochs = gpu ? 50 : 20, iterations = gpu ? 50 : 25;
  std::string device = gpu ? "cuda" : "cpu";
  CommandLine cli("demo", "nnuc demo [-o FOLDER] [--epochs N] [--iters-per-epoch N] [--device cpu|cuda]",
                  "The main job on the bundled tiny synthetic dataset: writes it to FOLDER/nnUNet_raw (5 training\n"
                  "cases, 3 held-out test cases with references in labelsTs/), plans and preprocesses it into\n"
                  "FOLDER/nnUNet_preprocessed, runs the self-check, trains the 2d configuration (fold 0, seed 0)\n"
                  "into FOLDER/nnUNet_results, predicts imagesTs/ into FOLDER/predictions and evaluates them\n"
                  "against labelsTs/ (Dice per label, FOLDER/predictions/summary.json).\n"
                  "CPU: 20 epochs x 25 iterations (a few minutes on 2 cores); GPU: 50 x 50.\n");
  cli.option("-o", folder, "where the demo writes (default ./nnuc_demo)")->type_name("FOLDER");
  cli.option("--epochs", epochs, "training epochs (default 20 on the CPU, 50 on a GPU; 0 stops after the self-check)")
      ->type_name("N")
      ->check(in_range(0, 1000));
  cli.option("--iters-per-epoch", iterations, "training iterations per epoch (default 25 on the CPU, 50 on a GPU)")
      ->type_name("N")
      ->check(in_range(1, 1000));
  cli.option("--device,-device", device, "cpu or cuda (default: cuda when a device is present)")
      ->type_name("D")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cli.exit_codes("every step passed", "a step failed");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  const fs::path root(folder);
  const std::string raw = (root / "nnUNet_raw" / "Dataset900_Tiny").string();
  const std::string preprocessed = (root / "nnUNet_preprocessed").string();
  const std::string results = (root / "nnUNet_results").string();
  const std::string predictions = (root / "predictions").string();
  const std::string model = (fs::path(results) / "Dataset900_Tiny" / "nnUNetTrainer__nnUNetPlans__2d").string();
  const int steps = epochs == 0 ? 3 : 6;
  std::printf("== nnuc demo 1/%d: synthetic dataset -> %s\n", steps, raw.c_str());
  if (int code = run_with(run_synth, {"--preset", "tiny", "-o", raw}); code != kExitSuccess) return code;
  std::printf("\n== nnuc demo 2/%d: verify, fingerprint, plan and preprocess -> %s\n", steps, preprocessed.c_str());
  if (int code = run_with(run_plan, {"-i", raw, "-o", preprocessed}); code != kExitSuccess) return code;
  std::printf("\n== nnuc demo 3/%d: self-check (kernels, gradients, memory prediction)\n", steps);
  if (int code = run_with(run_selfcheck, {}); code != kExitSuccess) return code;
  if (epochs == 0) return kExitSuccess;
  std::printf("\n== nnuc demo 4/%d: train 2d, fold 0, %d epochs x %d iterations on %s -> %s\n", steps, epochs,
              iterations, device.c_str(), results.c_str());
  if (int code =
          run_with(run_train, {"-i", (fs::path(preprocessed) / "Dataset900_Tiny").string(), "-c", "2d", "-f", "0", "-o",
                               results, "--epochs", std::to_string(epochs), "--iters-per-epoch",
                               std::to_string(iterations), "--val-iters", "10", "--seed", "0", "--device", device});
      code != kExitSuccess)
    return code;
  std::printf("\n== nnuc demo 5/%d: predict the held-out cases %s/imagesTs -> %s\n", steps, raw.c_str(),
              predictions.c_str());
  if (int code = run_with(run_predict, {"-i", (fs::path(raw) / "imagesTs").string(), "-o", predictions, "-m", model,
                                        "-f", "0", "--device", device});
      code != kExitSuccess)
    return code;
  std::printf("\n== nnuc demo 6/%d: evaluate against %s/labelsTs\n", steps, raw.c_str());
  if (int code = run_with(run_evaluate, {"-r", (fs::path(raw) / "labelsTs").string(), "-p", predictions, "-djfile",
                                         (fs::path(raw) / "dataset.json").string()});
      code != kExitSuccess)
    return code;
  std::printf(
      "\noutputs:\n  model       %s\n  validation  %s/fold_0/validation/summary.json\n"
      "  predictions %s\n  evaluation  %s/summary.json\n",
      model.c_str(), model.c_str(), predictions.c_str(), predictions.c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
