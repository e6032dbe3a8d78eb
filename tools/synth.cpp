// `nnuc synth`: writes a complete synthetic nnU-Net raw dataset, deterministic from a seed.
#include "data/synth/synth.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

#include "data/dataset/raw_dataset.h"
#include "data/dataset/verification.h"
#include "tools/data_commands.h"

namespace nnuc::tools {

namespace {

void print_synth_usage() {
  std::printf(
      "usage: nnuc synth [--preset tiny|hippocampus|spleen] [-o DATASET_DIR | -d ID] [options]\n"
      "\n"
      "Writes a synthetic nnU-Net raw dataset (dataset.json, imagesTr/, labelsTr/, imagesTs/), the same\n"
      "bytes for the same options and seed. Presets: tiny (5 cases, ~32^3, for tests and the demo),\n"
      "hippocampus (MSD Task04-like: 260 MRI cases ~36x50x35 at 1 mm, labels Anterior/Posterior),\n"
      "spleen (MSD Task09-like: 41 CT cases 512x512x31-168, 0.61-0.98 x 1.5-8 mm, label spleen).\n"
      "\n"
      "  -o DIR               the dataset folder to write (default $nnUNet_raw/DatasetXXX_Name)\n"
      "  -d ID                dataset id for the default folder name (tiny 900, hippocampus 904, spleen 909)\n"
      "  --name NAME          dataset name for the default folder name\n"
      "  --cases N            training cases          --test-cases N     cases in imagesTs/\n"
      "  --seed S             random seed (default 1234)\n"
      "  --channels C         image channels          --classes K        foreground classes (generic scenes)\n"
      "  --shape A0 A1 A2     voxels per case (array order; default: the preset's ranges)\n"
      "  --spacing S0 S1 S2   mm per voxel (array order; e.g. 3 0.8 0.8 for anisotropic data)\n"
      "  --modality ct|mri    CT in Hounsfield units or MRI with bias field (generic scenes)\n"
      "  --structures LIST    comma-separated ellipsoid,tube,nested: class k uses entry k-1 (cycled)\n"
      "  --noise X            MRI: sigma relative to tissue; CT: sigma in HU\n"
      "  --bias-field X       MRI bias-field strength (0 = none)\n"
      "  --ignore-label       declare an 'ignore' label and paint a slab of it into every label map\n"
      "  --file-ending E      .nii.gz (default) or .nii\n"
      "  -np N                cases generated in parallel (default: CPU cores)\n"
      "  --verify             verify the result and write its verification record\n"
      "  -q                   no progress output\n"
      "\n"
      "exit code: 0 written (and verified), 1 failure or verification errors, 2 usage error\n");
}

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
  for (int i = 0; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--preset") preset = argv[i + 1];
  }
  data::synth::SynthConfig config = data::synth::synth_preset(preset);
  std::string output;
  bool verify = false, quiet = false, classes_set = false;
  ArgCursor args("synth", argc, argv);
  while (!args.done()) {
    const std::string option = args.next();
    if (option == "-h" || option == "--help") {
      print_synth_usage();
      return 0;
    }
    if (option == "--preset")
      (void)args.value(option);
    else if (option == "-o")
      output = args.value(option);
    else if (option == "-d")
      config.dataset_id = static_cast<int>(args.integer(option, 0, 9999));
    else if (option == "--name")
      config.dataset_name = args.value(option);
    else if (option == "--cases")
      config.num_cases = static_cast<int>(args.integer(option, 1, 100000));
    else if (option == "--test-cases")
      config.num_test_cases = static_cast<int>(args.integer(option, 0, 100000));
    else if (option == "--seed")
      config.seed = static_cast<std::uint64_t>(args.integer(option, 0, INT64_MAX));
    else if (option == "--channels")
      config.num_channels = static_cast<int>(args.integer(option, 1, 16));
    else if (option == "--classes") {
      config.num_classes = static_cast<int>(args.integer(option, 1, 64));
      classes_set = true;
    } else if (option == "--shape") {
      for (int a = 0; a < 3; ++a) config.shape_min[a] = config.shape_max[a] = args.integer(option, 1, 4096);
    } else if (option == "--spacing") {
      for (int a = 0; a < 3; ++a) config.spacing_min[a] = config.spacing_max[a] = args.real(option, 1e-3, 1e3);
    } else if (option == "--modality") {
      const std::string modality = args.value(option);
      NNUC_CHECK(modality == "ct" || modality == "mri", "nnuc synth: --modality '", modality, "': expected ct or mri");
      config.modality = modality == "ct" ? data::synth::Modality::ct : data::synth::Modality::mri;
      if (config.modality == data::synth::Modality::ct && config.noise < 1) config.noise = 12.0;  // HU, not relative
      if (config.modality == data::synth::Modality::mri && config.noise > 1) config.noise = 0.04;
    } else if (option == "--structures")
      config.structures = parse_structures(args.value(option));
    else if (option == "--noise")
      config.noise = args.real(option, 0, 1e4);
    else if (option == "--bias-field")
      config.bias_field = args.real(option, 0, 3);
    else if (option == "--ignore-label")
      config.ignore_label = true;
    else if (option == "--file-ending")
      config.file_ending = args.value(option);
    else if (option == "-np")
      config.threads = static_cast<int>(args.integer(option, 1, 256));
    else if (option == "--verify")
      verify = true;
    else if (option == "-q" || option == "--quiet")
      quiet = true;
    else
      args.unknown(option);
  }
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
  if (!verify) return 0;
  const data::VerificationReport report = data::verify_dataset(output);
  std::printf("%s", report.summary().c_str());
  data::write_verification_record(output, report);
  return report.ok() ? 0 : 1;
}

}  // namespace nnuc::tools
