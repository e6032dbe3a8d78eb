#include "data/synth/synth.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "data/synth/anatomy.h"
#include "data/synth/structures.h"
#include "kernels/core/error.h"
#include "kernels/core/random.h"

namespace nnuc::data::synth {

namespace {

constexpr double kMriReference = 400.0;  // plain tissue in MRI scenes (anatomy.cpp)

std::uint64_t case_seed(const SynthConfig& config, int index, bool test_case) {
  const std::uint64_t stream = (test_case ? 0x7E5700000000ull : 0ull) + static_cast<std::uint64_t>(index);
  return derive_seed(config.seed, stream);
}

const char* kind_name(StructureKind kind) {
  switch (kind) {
    case StructureKind::ellipsoid: return "ellipsoid";
    case StructureKind::tube: return "tube";
    case StructureKind::nested: return "nested";
  }
  return "?";
}

// The nearest float32 value. Through a volatile: GCC 12.2's SLP vectorizer deletes pairs of
// (double)(float)x round trips at -O2 (two adjacent `o[i] = (double)(float)o[i]` compile to nothing).
double round_to_float32(double value) {
  volatile float rounded = static_cast<float>(value);
  return rounded;
}

// Spleen slice thickness: mostly 5 mm, some thin (1.5–3 mm) and some thick (7.5–8 mm) scans; the
// 10th percentile near 1.6 mm, which nnU-Net's anisotropic rule then picks as target spacing.
double spleen_slice_spacing(Rng& random) {
  const double u = random.uniform();
  if (u < 0.07) return 1.5;
  if (u < 0.13) return 1.6;
  if (u < 0.20) return 2.5;
  if (u < 0.25) return 3.0;
  if (u < 0.85) return 5.0;
  if (u < 0.95) return 7.5;
  return 8.0;
}

}  // namespace

std::vector<std::string> synth_preset_names() { return {"tiny", "hippocampus", "spleen"}; }

SynthConfig synth_preset(const std::string& name) {
  SynthConfig config;
  config.preset = name;
  if (name == "tiny") {
    config.dataset_name = "SynthTiny";
    config.dataset_id = 900;
    config.num_cases = 5;
    config.num_test_cases = 3;
    config.num_classes = 2;
    config.shape_min = {30, 30, 30};
    config.shape_max = {34, 34, 34};
    config.structures = {StructureKind::ellipsoid, StructureKind::nested, StructureKind::tube};
    return config;
  }
  if (name == "hippocampus") {
    config.dataset_name = "SynthHippocampus";
    config.dataset_id = 904;
    config.num_cases = 260;
    config.num_classes = 2;
    config.anatomy = Anatomy::hippocampus;
    config.shape_min = {31, 43, 30};  // uniform around the Task04 median (36, 50, 35)
    config.shape_max = {41, 57, 40};
    config.noise = 0.04;
    config.bias_field = 0.2;
    return config;
  }
  if (name == "spleen") {
    config.dataset_name = "SynthSpleen";
    config.dataset_id = 909;
    config.num_cases = 41;
    config.num_classes = 1;
    config.anatomy = Anatomy::spleen;
    config.modality = Modality::ct;
    config.shape_min = {31, 512, 512};
    config.shape_max = {168, 512, 512};
    config.spacing_min = {1.5, 0.61, 0.61};
    config.spacing_max = {8.0, 0.98, 0.98};
    config.noise = 12.0;
    return config;
  }
  NNUC_THROW(InvalidInput, "unknown synthetic preset '", name, "': expected tiny, hippocampus or spleen");
}

void validate_synth_config(const SynthConfig& config) {
  NNUC_CHECK(config.num_cases >= 1 && config.num_cases <= 100000, "synth: cases = ", config.num_cases,
             ": expected 1..100000");
  NNUC_CHECK(config.num_test_cases >= 0 && config.num_test_cases <= 100000,
             "synth: test cases = ", config.num_test_cases, ": expected 0..100000");
  NNUC_CHECK(config.num_channels >= 1 && config.num_channels <= 16, "synth: channels = ", config.num_channels,
             ": expected 1..16");
  NNUC_CHECK(config.num_classes >= 1 && config.num_classes <= 64, "synth: classes = ", config.num_classes,
             ": expected 1..64");
  if (config.anatomy == Anatomy::hippocampus) {
    NNUC_CHECK(config.num_classes == 2, "synth: the hippocampus anatomy has 2 classes (anterior, posterior), got ",
               config.num_classes);
  }
  if (config.anatomy == Anatomy::spleen) {
    NNUC_CHECK(config.num_classes == 1, "synth: the spleen anatomy has 1 class, got ", config.num_classes);
    NNUC_CHECK(config.modality == Modality::ct, "synth: the spleen anatomy is CT");
  }
  if (config.anatomy == Anatomy::hippocampus) {
    NNUC_CHECK(config.modality == Modality::mri, "synth: the hippocampus anatomy is MRI");
  }
  NNUC_CHECK(!config.structures.empty(), "synth: structures must not be empty");
  for (int a = 0; a < 3; ++a) {
    NNUC_CHECK(config.shape_min[a] >= 1 && config.shape_min[a] <= config.shape_max[a] && config.shape_max[a] <= 4096,
               "synth: shape range on axis ", a, " = [", config.shape_min[a], ", ", config.shape_max[a],
               "]: expected 1 <= min <= max <= 4096");
    NNUC_CHECK(std::isfinite(config.spacing_min[a]) && config.spacing_min[a] > 0 &&
                   config.spacing_min[a] <= config.spacing_max[a] && std::isfinite(config.spacing_max[a]),
               "synth: spacing range on axis ", a, " = [", config.spacing_min[a], ", ", config.spacing_max[a],
               "]: expected 0 < min <= max");
  }
  NNUC_CHECK(config.shape_min[1] >= 4 && config.shape_min[2] >= 4, "synth: in-plane shape must be at least 4 voxels");
  NNUC_CHECK(std::isfinite(config.noise) && config.noise >= 0, "synth: noise = ", config.noise, ": expected >= 0");
  NNUC_CHECK(std::isfinite(config.bias_field) && config.bias_field >= 0 && config.bias_field <= 3,
             "synth: bias field = ", config.bias_field, ": expected 0..3");
  NNUC_CHECK(is_supported_file_ending(config.file_ending), "synth: file ending '", config.file_ending,
             "': expected .nii.gz or .nii");
  NNUC_CHECK(config.dataset_id >= 0 && config.dataset_id <= 9999, "synth: dataset id ", config.dataset_id,
             ": expected 0..9999");
  NNUC_CHECK(
      !config.dataset_name.empty() &&
          std::all_of(config.dataset_name.begin(), config.dataset_name.end(),
                      [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }),
      "synth: dataset name '", config.dataset_name, "': expected letters, digits, '-' or '_'");
  NNUC_CHECK(config.threads >= 0, "synth: threads = ", config.threads, ": expected >= 0");
}

CaseGeometryPlan plan_case_geometry(const SynthConfig& config, int index, bool test_case) {
  Rng random(derive_seed(case_seed(config, index, test_case), 1));
  CaseGeometryPlan plan;
  const bool square = config.shape_min[1] == config.shape_min[2] && config.shape_max[1] == config.shape_max[2];
  const bool square_spacing =
      config.spacing_min[1] == config.spacing_min[2] && config.spacing_max[1] == config.spacing_max[2];
  for (int a = 0; a < 3; ++a) {
    plan.spacing[a] = config.spacing_min[a] == config.spacing_max[a]
                          ? config.spacing_min[a]
                          : random.uniform(config.spacing_min[a], config.spacing_max[a]);
    plan.shape[a] = random.between(config.shape_min[a], config.shape_max[a]);
  }
  if (square) plan.shape[2] = plan.shape[1];
  if (square_spacing) plan.spacing[2] = plan.spacing[1];
  if (config.anatomy == Anatomy::spleen) {
    plan.spacing[0] = std::clamp(spleen_slice_spacing(random), config.spacing_min[0], config.spacing_max[0]);
    const double extent = random.uniform(200.0, 450.0);  // mm covered along z
    plan.shape[0] =
        std::clamp<std::int64_t>(std::llround(extent / plan.spacing[0]), config.shape_min[0], config.shape_max[0]);
  }
  for (int a = 0; a < 3; ++a) {
    plan.origin[a] = -0.5 * static_cast<double>(plan.shape[a] - 1) * plan.spacing[a] + random.uniform(-10.0, 10.0);
  }
  // NIfTI-1 stores float32: keep exactly what the files will hold.
  for (int a = 0; a < 3; ++a) {
    plan.spacing[a] = round_to_float32(plan.spacing[a]);
    plan.origin[a] = round_to_float32(plan.origin[a]);
  }
  return plan;
}

std::string synthetic_case_id(const SynthConfig& config, int index, bool test_case) {
  const int count = test_case ? config.num_test_cases : config.num_cases;
  int width = 3;
  for (int limit = 1000; count > limit && width < 9; limit *= 10) ++width;
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s_%0*d", test_case ? "test" : "case", width, index);
  return buffer;
}

SynthCase generate_synthetic_case(const SynthConfig& config, int index, bool test_case) {
  validate_synth_config(config);
  const int count = test_case ? config.num_test_cases : config.num_cases;
  NNUC_CHECK(index >= 0 && index < count, "synth: case index ", index, ": expected 0..", count - 1);
  const std::uint64_t seed = case_seed(config, index, test_case);
  SynthCase out;
  out.id = synthetic_case_id(config, index, test_case);
  out.geometry = plan_case_geometry(config, index, test_case);
  Rng scene_random(derive_seed(seed, 2));
  Canvas canvas = config.anatomy == Anatomy::hippocampus ? paint_hippocampus_scene(config, out.geometry, scene_random)
                  : config.anatomy == Anatomy::spleen    ? paint_spleen_scene(config, out.geometry, scene_random)
                                                         : paint_generic_scene(config, out.geometry, scene_random);
  if (config.ignore_label) {  // an unannotated slab at the end of axis 0
    const std::int64_t slab = std::max<std::int64_t>(1, canvas.shape[0] / 8);
    const std::int64_t first = (canvas.shape[0] - slab) * canvas.shape[1] * canvas.shape[2];
    std::fill(canvas.labels.begin() + first, canvas.labels.end(), static_cast<std::int16_t>(config.num_classes + 1));
  }
  if (config.modality == Modality::ct)
    finish_ct(canvas, config, derive_seed(seed, 3));
  else
    finish_mri(canvas, config, kMriReference, derive_seed(seed, 3));

  const Shape shape{canvas.shape[0], canvas.shape[1], canvas.shape[2]};
  for (std::vector<float>& channel : canvas.channels) {
    out.channels.push_back(Tensor::from_vector(shape, channel));
    std::vector<float>().swap(channel);
  }
  out.label = Tensor::from_vector(shape, canvas.labels);
  return out;
}

DatasetJson synthetic_dataset_json(const SynthConfig& config) {
  DatasetJson json;
  static const char* mri_names[] = {"T1", "T2", "FLAIR", "PD"};
  for (int c = 0; c < config.num_channels; ++c) {
    if (config.modality == Modality::ct)
      json.channel_names.push_back("CT");
    else if (config.anatomy == Anatomy::hippocampus && c == 0)
      json.channel_names.push_back("MRI");
    else
      json.channel_names.push_back(c < 4 ? mri_names[c] : "MRI" + std::to_string(c));
  }
  json.labels.push_back(LabelDefinition{"background", {0}, false});
  if (config.anatomy == Anatomy::hippocampus) {
    json.labels.push_back(LabelDefinition{"Anterior", {1}, false});
    json.labels.push_back(LabelDefinition{"Posterior", {2}, false});
  } else if (config.anatomy == Anatomy::spleen) {
    json.labels.push_back(LabelDefinition{"spleen", {1}, false});
  } else {
    for (int k = 1; k <= config.num_classes; ++k) {
      const StructureKind kind = config.structures[static_cast<std::size_t>(k - 1) % config.structures.size()];
      json.labels.push_back(LabelDefinition{std::string(kind_name(kind)) + "_" + std::to_string(k), {k}, false});
    }
  }
  if (config.ignore_label) json.labels.push_back(LabelDefinition{"ignore", {config.num_classes + 1}, false});
  json.num_training = config.num_cases;
  json.file_ending = config.file_ending;
  json.other["name"] = config.dataset_name;
  json.other["description"] =
      "nnuc synthetic dataset (preset " + config.preset + ", seed " + std::to_string(config.seed) + ")";
  json.other["reference"] = "generated by nnuc synth";
  json.other["licence"] = "CC0-1.0 (synthetic data)";
  json.other["numTest"] = config.num_test_cases;
  nlohmann::ordered_json recipe;
  recipe["preset"] = config.preset;
  recipe["seed"] = config.seed;
  recipe["cases"] = config.num_cases;
  recipe["test_cases"] = config.num_test_cases;
  recipe["channels"] = config.num_channels;
  recipe["classes"] = config.num_classes;
  recipe["shape_min"] = config.shape_min;
  recipe["shape_max"] = config.shape_max;
  recipe["spacing_min"] = config.spacing_min;
  recipe["spacing_max"] = config.spacing_max;
  recipe["modality"] = config.modality == Modality::ct ? "ct" : "mri";
  recipe["anatomy"] = config.anatomy == Anatomy::hippocampus ? "hippocampus"
                      : config.anatomy == Anatomy::spleen    ? "spleen"
                                                             : "generic";
  std::vector<std::string> kinds;
  for (StructureKind kind : config.structures) kinds.push_back(kind_name(kind));
  recipe["structures"] = kinds;
  recipe["noise"] = config.noise;
  recipe["bias_field"] = config.bias_field;
  recipe["ignore_label"] = config.ignore_label;
  json.other["nnuc_synth"] = recipe;
  return json;
}

std::string synthetic_dataset_folder_name(const SynthConfig& config) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "Dataset%03d_", config.dataset_id);
  return buffer + config.dataset_name;
}

}  // namespace nnuc::data::synth
