// `nnuc demo`: the main job on the bundled default data. Today: write the tiny synthetic dataset
// (deterministic from its seed), verify, fingerprint, plan and preprocess it, run the kernel and
// training self-check, then train the 2d configuration (fold 0, a short schedule) on the CPU, or on
// the GPU when one is present. Prediction joins as it lands.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

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
  std::string folder = "nnuc_demo";
  int epochs = 10;
  CommandLine cli("demo", "nnuc demo [-o FOLDER] [--epochs N]",
                  "Writes the tiny synthetic dataset to FOLDER/nnUNet_raw, plans and preprocesses it into\n"
                  "FOLDER/nnUNet_preprocessed, runs the self-check, then trains the 2d configuration (fold 0,\n"
                  "N epochs of 25 iterations, seed 0) into FOLDER/nnUNet_results.\n");
  cli.option("-o", folder, "where the demo writes (default ./nnuc_demo)")->type_name("FOLDER");
  cli.option("--epochs", epochs, "training epochs (default 10; 0 skips training)")
      ->type_name("N")
      ->check(in_range(0, 1000));
  cli.exit_codes("every step passed", "a step failed");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  const std::string raw = (std::filesystem::path(folder) / "nnUNet_raw" / "Dataset900_Tiny").string();
  const std::string preprocessed = (std::filesystem::path(folder) / "nnUNet_preprocessed").string();
  std::printf("== nnuc demo 1/4: synthetic dataset -> %s\n", raw.c_str());
  if (int code = run_with(run_synth, {"--preset", "tiny", "-o", raw}); code != kExitSuccess) return code;
  std::printf("\n== nnuc demo 2/4: verify, fingerprint, plan and preprocess -> %s\n", preprocessed.c_str());
  if (int code = run_with(run_plan, {"-i", raw, "-o", preprocessed}); code != kExitSuccess) return code;
  std::printf("\n== nnuc demo 3/4: self-check (kernels, gradients, memory prediction)\n");
  if (int code = run_with(run_selfcheck, {}); code != kExitSuccess) return code;
  if (epochs == 0) return kExitSuccess;
  const std::string results = (std::filesystem::path(folder) / "nnUNet_results").string();
  std::printf("\n== nnuc demo 4/4: train 2d, fold 0, %d epochs x 25 iterations -> %s\n", epochs, results.c_str());
  return run_with(run_train, {"-i", (std::filesystem::path(preprocessed) / "Dataset900_Tiny").string(), "-c", "2d",
                              "-f", "0", "-o", results, "--epochs", std::to_string(epochs), "--iters-per-epoch", "25",
                              "--val-iters", "10", "--seed", "0"});
}

}  // namespace nnuc::tools
