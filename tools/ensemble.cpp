// `nnuc ensemble`: nnUNetv2_ensemble. Averages the probabilities (CASE.npz) of several prediction
// folders and writes the ensembled label maps with the first folder's geometry (planner/ensemble.h).
#include "planner/ensemble.h"

#include <cstdio>
#include <string>
#include <vector>

#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

int run_ensemble(int argc, char** argv) {
  std::vector<std::string> inputs;
  std::string output;
  planner::EnsembleOptions options;
  bool save_npz_dashes = false;
  CommandLine cli("ensemble", "nnuc ensemble -i DIR DIR [DIR ...] -o OUTPUT_DIR [-np N] [--save_npz]",
                  "nnU-Net's nnUNetv2_ensemble: for every case with probabilities (CASE.npz + CASE.json, written by\n"
                  "nnuc predict --save-probabilities) in all input folders, averages the probabilities, takes the\n"
                  "argmax (regions: threshold 0.5) and writes OUTPUT_DIR/CASE<file_ending> with the geometry of the\n"
                  "first folder's case. dataset.json (labels, file ending) and plans.json are read from the first\n"
                  "input folder and copied to OUTPUT_DIR. Nothing is written unless every case succeeds.\n");
  cli.option("-i", inputs, "prediction folders with probabilities (at least 2)")
      ->type_name("DIR")
      ->required()
      ->expected(2, 1000);
  cli.option("-o", output, "output folder")->type_name("DIR")->required();
  cli.option("-np", options.threads, "cases in parallel (default 8)")->type_name("N")->check(in_range(1, 256));
  cli.flag("--save_npz", options.save_npz, "also write the averaged probabilities (CASE.npz + CASE.json)");
  cli.flag("--save-npz", save_npz_dashes, "the same as --save_npz");
  cli.exit_codes("every case ensembled and written", "a file could not be read or written");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  options.save_npz = options.save_npz || save_npz_dashes;

  const planner::EnsembleResult result = planner::ensemble_folders(inputs, output, options);
  std::printf("ensembled %zu case(s) of %zu folders into %s\n", result.cases.size(), inputs.size(), output.c_str());
  return kExitSuccess;
}

}  // namespace nnuc::tools
