// `nnuc synth`: writes a complete synthetic nnU-Net raw dataset, deterministic from a seed.
#include "data/synth/synth.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

namespace {

std::vector<data::synth::StructureKind> parse_structures(const std::string& text) {
  std::vector<data::synth::StructureKind> kinds;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item == "ellipsoid")
      kinds.push_back(data::synth::StructureKind::ellipsoid);
    else if (item == "tube")
      kinds.push_back(data::synth::StructureKind::tube);
    else if (item == "nested")
      kinds.push_back(data::synth::StructureKind::nested);
    else
      NNUC_THROW(InvalidInput, "nnuc synth: --structures entry '", item, "': expected ellipsoid, tube or nested");
  }
  NNUC_CHECK(!kinds.empty(), "nnuc synth: --structures is empty");
  return kinds;
}

}  // namespace

int run_synth(int argc, char** argv) {
  // The preset comes first: every other option overrides a field of it.
  std::string preset = "tiny";
  for (int i = 0; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--preset" && i + 1 < argc) preset = argv[i + 1];
    if (argument.rfind("--preset=", 0) == 0) preset = argument.substr(9);
  }
  data::synth::SynthConfig config = data::synth::synth_preset(preset);
  std::string output, modality, structures;
  std::vector<std::int64_t> shape;
  std::vector<double> spacing;
  bool verify = false, quiet = false;
  CommandLine cli("synth", "nnuc synth [--preset tiny|hippocampus|spleen] [-o DATASET_DIR | -d ID] [options]",
                  "Writes a synthetic nnU-Net raw dataset (dataset.json, imagesTr/, labelsTr/, imagesTs/), the same\n"
                  "bytes for the same options and seed. Presets: tiny (5 cases, ~32^3, for tests and the demo),\n"
                  "hippocampus (MSD Task04-like: 260 MRI cases ~36x50x35 at 1 mm, labels Anterior/Posterior),\n"
                  "spleen (MSD Task09-like: 41 CT cases 512x512x31-168, 0.61-0.98 x 1.5-8 mm, label spleen).\n");
  cli.option("--preset", preset, "tiny (default), hippocampus or spleen; the other options override its fields")
      ->type_name("NAME");
  cli.option("-o", output, "the dataset folder to write (default $nnUNet_raw/DatasetXXX_Name)")->type_name("DIR");
  cli.option("-d", config.dataset_id, "dataset id for the default folder name (tiny 900, hippocampus 904, spleen 909)")
      ->type_name("ID")
      ->check(in_range(0, 9999));
  cli.option("--name", config.dataset_name, "dataset name for the default folder name")->type_name("NAME");
  cli.option("--cases", config.num_cases, "training cases")->type_name("N")->check(in_range(1, 100000));
  cli.option("--test-cases", config.num_test_cases, "cases in imagesTs/")->type_name("N")->check(in_range(0, 100000));
  cli.option("--seed", config.seed, "random seed (default 1234)")->type_name("S");
  cli.option("--channels", config.num_channels, "image channels")->type_name("C")->check(in_range(1, 16));
  CLI::Option* classes = cli.option("--classes", config.num_classes, "foreground classes (generic scenes)")
                             ->type_name("K")
                             ->check(in_range(1, 64));
  cli.option("--shape", shape, "voxels per case (array order; default: the preset's ranges)")
      ->type_name("A0 A1 A2")
      ->expected(3)
      ->check(in_range(std::int64_t{1}, std::int64_t{4096}));
  cli.option("--spacing", spacing, "mm per voxel (array order; e.g. 3 0.8 0.8 for anisotropic data)")
      ->type_name("S0 S1 S2")
      ->expected(3)
      ->check(in_range(1e-3, 1e3));
  cli.option("--modality", modality, "CT in Hounsfield units or MRI with bias field (generic scenes)")
      ->type_name("ct|mri")
      ->check(CLI::IsMember({"ct", "mri"}));
  cli.option("--structures", structures, "comma-separated ellipsoid,tube,nested: class k uses entry k-1 (cycled)")
      ->type_name("LIST");
  CLI::Option* noise = cli.option("--noise", config.noise, "MRI: sigma relative to tissue; CT: sigma in HU")
                           ->type_name("X")
                           ->check(in_range(0.0, 1e4));
  cli.option("--bias-field", config.bias_field, "MRI bias-field strength (0 = none)")
      ->type_name("X")
      ->check(in_range(0.0, 3.0));
  cli.flag("--ignore-label", config.ignore_label,
           "declare an 'ignore' label and paint a slab of it into every label map");
  cli.option("--file-ending", config.file_ending, ".nii.gz (default) or .nii")->type_name("E");
  cli.option("-np", config.threads, "cases generated in parallel (default: CPU cores)")
      ->type_name("N")
      ->check(in_range(1, 256));
  cli.flag("--verify", verify, "verify the result and write its verification record");
  cli.flag("-q,--quiet", quiet, "no progress output");
  cli.exit_codes("written (and verified)", "failure or verification errors");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;

  const bool classes_set = classes->count() > 0;
  if (!shape.empty()) {
    for (int a = 0; a < 3; ++a) config.shape_min[a] = config.shape_max[a] = shape[a];
  }
  if (!spacing.empty()) {
    for (int a = 0; a < 3; ++a) config.spacing_min[a] = config.spacing_max[a] = spacing[a];
  }
  if (!modality.empty()) {
    config.modality = modality == "ct" ? data::synth::Modality::ct : data::synth::Modality::mri;
    if (noise->count() == 0 && config.modality == data::synth::Modality::ct && config.noise < 1)
      config.noise = 12.0;  // HU, not relative to tissue
    if (noise->count() == 0 && config.modality == data::synth::Modality::mri && config.noise > 1) config.noise = 0.04;
  }
  if (!structures.empty()) config.structures = parse_structures(structures);
  NNUC_CHECK(!classes_set || config.anatomy == data::synth::Anatomy::generic,
             "nnuc synth: --classes applies to the tiny (generic) preset only; the ", preset,
             " anatomy has fixed labels");
  data::synth::validate_synth_config(config);
  if (output.empty()) {
    const data::NnunetRoots roots = data::NnunetRoots::from_environment();
    NNUC_CHECK(!roots.raw.empty(), "nnuc synth: no output folder: pass -o DIR or set nnUNet_raw");
    output = (std::filesystem::path(roots.raw) / data::synth::synthetic_dataset_folder_name(config)).string();
  }
  const bool show_progress = !quiet && ::isatty(::fileno(stderr));
  data::synth::write_synthetic_dataset(config, output, [show_progress](int done, int total) {
    if (!show_progress) return;
    std::fprintf(stderr, "\rsynth: %d/%d cases", done, total);
    if (done == total) std::fprintf(stderr, "\n");
  });
  std::printf("nnuc synth: wrote %d training and %d test case(s) (preset %s, seed %llu) to %s\n", config.num_cases,
              config.num_test_cases, config.preset.c_str(), static_cast<unsigned long long>(config.seed),
              output.c_str());
  return verify ? verify_written_dataset(output) : kExitSuccess;
}

}  // namespace nnuc::tools
