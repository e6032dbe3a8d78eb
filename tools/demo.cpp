#include "tools/demo.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tools/data_commands.h"
#include "tools/plan.h"
#include "tools/selfcheck.h"

namespace nnuc::tools {
namespace {

int run_with(int (*command)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  std::fflush(stdout);
  return command(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

int run_demo(int argc, char** argv) {
  std::filesystem::path folder = "nnuc_demo";
  ArgCursor args("demo", argc, argv);
  while (!args.done()) {
    const std::string option = args.next();
    if (option == "--help" || option == "-h") {
      std::printf(
          "usage: nnuc demo [-o FOLDER]\n"
          "Writes the tiny synthetic dataset to FOLDER/nnUNet_raw (default ./nnuc_demo), then plans and\n"
          "preprocesses it into FOLDER/nnUNet_preprocessed, then runs the self-check.\n");
      return 0;
    }
    if (option == "-o") {
      folder = args.value(option);
    } else {
      args.unknown(option);
    }
  }
  const std::string raw = (folder / "nnUNet_raw" / "Dataset900_Tiny").string();
  const std::string preprocessed = (folder / "nnUNet_preprocessed").string();
  std::printf("== nnuc demo 1/3: synthetic dataset -> %s\n", raw.c_str());
  if (int code = run_with(run_synth, {"--preset", "tiny", "-o", raw}); code != 0) return code;
  std::printf("\n== nnuc demo 2/3: verify, fingerprint, plan and preprocess -> %s\n", preprocessed.c_str());
  if (int code = run_with(run_plan, {"-i", raw, "-o", preprocessed}); code != 0) return code;
  std::printf("\n== nnuc demo 3/3: self-check (kernels, gradients, memory prediction)\n");
  return run_with(run_selfcheck, {});
}

}  // namespace nnuc::tools
