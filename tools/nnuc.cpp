// The nnuc command. Thin: parses arguments, calls the library, turns errors into messages and
// exit codes (0 success, 1 runtime failure, 2 usage error).
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "kernels/core/context.h"
#include "kernels/core/error.h"
#include "tools/data_commands.h"
#include "tools/demo.h"
#include "tools/memory.h"
#include "tools/plan.h"
#include "tools/selfcheck.h"

namespace {

void print_usage() {
  std::printf(
      "usage: nnuc <command> [options]\n"
      "\n"
      "commands:\n"
      "  demo        the main job on the bundled tiny synthetic dataset: synth, plan + preprocess, self-check\n"
      "  selfcheck   run every kernel on CPU (and CUDA when present) against references\n"
      "  verify      check a raw dataset (-i RAW_DATASET_DIR or -d ID with nnUNet_raw); all problems listed\n"
      "  synth       write a synthetic nnU-Net raw dataset (--preset tiny|hippocampus|spleen)\n"
      "  convert-msd convert a Medical Segmentation Decathlon task folder to nnU-Net v2's raw format\n"
      "  plan        verify, fingerprint, plan (exact memory model) and preprocess a dataset (-i DIR -o DIR | -d ID)\n"
      "  memory      predict the peak memory of one training step (--network, --patch, --batch, --device)\n"
      "  version     print the version and what this build contains\n"
      "  help        this text\n");
}

int version() {
  std::printf("nnuc 0.1.0 (CUDA backend: %s; CUDA device present: %s)\n",
#ifdef NNUC_WITH_CUDA
              "built",
#else
              "not built",
#endif
              nnuc::cuda_available() ? "yes" : "no");
  return 0;
}

// "nnuc <command>: <message>", unless the message already names the command (argument errors do).
void report(const std::string& command, const std::exception& error) {
  const std::string message = error.what(), prefix = "nnuc " + command + ":";
  if (message.rfind(prefix, 0) == 0)
    std::fprintf(stderr, "%s\n", message.c_str());
  else
    std::fprintf(stderr, "%s %s\n", prefix.c_str(), message.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage();
    return 2;
  }
  const std::string command = argv[1];
  try {
    if (command == "help" || command == "--help" || command == "-h") {
      print_usage();
      return 0;
    }
    if (command == "version" || command == "--version") return version();
    if (command == "demo") return nnuc::tools::run_demo(argc - 2, argv + 2);
    if (command == "selfcheck") return nnuc::tools::run_selfcheck(argc - 2, argv + 2);
    if (command == "verify") return nnuc::tools::run_verify(argc - 2, argv + 2);
    if (command == "synth") return nnuc::tools::run_synth(argc - 2, argv + 2);
    if (command == "convert-msd") return nnuc::tools::run_convert_msd(argc - 2, argv + 2);
    if (command == "memory") return nnuc::tools::run_memory(argc - 2, argv + 2);
    if (command == "plan") return nnuc::tools::run_plan(argc - 2, argv + 2);
    std::fprintf(stderr, "nnuc: unknown command '%s'\n\n", command.c_str());
    print_usage();
    return 2;
  } catch (const nnuc::InvalidInput& error) {
    report(command, error);
    return 2;
  } catch (const std::exception& error) {
    report(command, error);
    return 1;
  }
}
