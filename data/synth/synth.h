// Synthetic nnU-Net raw datasets (`nnuc synth`): complete DatasetXXX_Name folders with dataset.json,
// imagesTr/ (CASE_XXXX channel files), labelsTr/ and optionally imagesTs/ with their references in
// labelsTs/ (held out from training, for evaluation), deterministic from a seed.
//
// A case is a painted scene (data/synth/structures.h): anatomy-like shapes with partial-volume edges,
// a smooth texture, and modality-typical intensities and noise — CT in Hounsfield units (Gaussian
// noise, integer HU, air −1000) or MRI in arbitrary units (multiplicative bias field, Rician noise).
// Presets:
//   tiny         5 training + 3 test cases, 1 MRI channel, 2 foreground classes (an ellipsoid with a nested core, a
//   tube),
//                ~32³ at 1 mm; for tests and the demo (well under a second).
//   hippocampus  mimics MSD Task04's fingerprint: 260 cases, 1 MRI channel, labels anterior (1) and
//                posterior (2) of a curved hippocampus, shapes around the median (36, 50, 35) at 1 mm.
//   spleen       mimics MSD Task09's fingerprint: 41 cases, 1 CT channel, label spleen (1), 512² in-plane
//                at 0.61–0.98 mm, slices 1.5–8 mm (median 5 mm: anisotropic), 31–168 slices.
// Case i depends only on (seed, i): changing the number of cases leaves the others unchanged.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "kernels/core/tensor.h"

namespace nnuc::data::synth {

enum class Modality { ct, mri };
enum class Anatomy { generic, hippocampus, spleen };
enum class StructureKind { ellipsoid, tube, nested };

struct SynthConfig {
  std::string preset = "tiny";             // the preset it started from (recorded in dataset.json)
  std::string dataset_name = "SynthTiny";  // Name of DatasetXXX_Name
  int dataset_id = 900;
  int num_cases = 5;
  int num_test_cases = 0;  // written to imagesTs/ (images) and labelsTs/ (their references)
  int num_channels = 1;
  int num_classes = 2;  // foreground classes; fixed by the anatomy for hippocampus (2) and spleen (1)
  // Per-case shape and spacing ranges in array order (a0, a1, a2); each case draws within them. Equal
  // a1 and a2 ranges draw one value for both (square in-plane pixels).
  std::array<std::int64_t, 3> shape_min{30, 30, 30};
  std::array<std::int64_t, 3> shape_max{34, 34, 34};
  std::array<double, 3> spacing_min{1, 1, 1};
  std::array<double, 3> spacing_max{1, 1, 1};
  Modality modality = Modality::mri;
  Anatomy anatomy = Anatomy::generic;
  std::vector<StructureKind> structures{StructureKind::ellipsoid, StructureKind::nested};  // class k uses [k-1 mod n]
  double noise = 0.04;        // MRI: Rician sigma relative to tissue intensity; CT: Gaussian sigma in HU
  double bias_field = 0.25;   // MRI: peak log-amplitude of the multiplicative bias field (0: none); CT ignores it
  bool ignore_label = false;  // declare an "ignore" label and paint a slab of it into every training label
  std::uint64_t seed = 1234;
  std::string file_ending = ".nii.gz";
  int threads = 0;  // cases generated and written in parallel; 0 = hardware concurrency
};

// The named presets ("tiny", "hippocampus", "spleen"); InvalidInput for other names.
SynthConfig synth_preset(const std::string& name);
std::vector<std::string> synth_preset_names();
// Checks a configuration (counts, ranges, file ending); InvalidInput naming the field.
void validate_synth_config(const SynthConfig& config);

// Shape, spacing and world placement of one case, drawn from its seed; cheap (no voxels).
struct CaseGeometryPlan {
  std::array<std::int64_t, 3> shape{};  // (a0, a1, a2)
  std::array<double, 3> spacing{};      // mm, (a0, a1, a2)
  std::array<double, 3> origin{};       // mm, (a0, a1, a2) world position of voxel (0, 0, 0); axes aligned
};
CaseGeometryPlan plan_case_geometry(const SynthConfig& config, int index, bool test_case = false);

struct SynthCase {
  std::string id;
  CaseGeometryPlan geometry;
  std::vector<Tensor> channels;  // f32 (a0, a1, a2), one per channel
  Tensor label;                  // i16 (a0, a1, a2); values 0..num_classes (+ ignore)
};
// Generates case `index` (a test case when `test_case`: same scene kind, its own seed stream).
SynthCase generate_synthetic_case(const SynthConfig& config, int index, bool test_case = false);

// "case_007" (training) or "test_007".
std::string synthetic_case_id(const SynthConfig& config, int index, bool test_case);
// The dataset.json describing the configuration.
DatasetJson synthetic_dataset_json(const SynthConfig& config);
// "DatasetXXX_Name".
std::string synthetic_dataset_folder_name(const SynthConfig& config);

// Writes the complete dataset into `dataset_folder` (created; existing case files are replaced). Each
// file is written atomically; dataset.json is written last, so an interrupted run leaves no
// dataset.json. `progress(done, total)` is called after each case (from worker threads, serialized).
void write_synthetic_dataset(const SynthConfig& config, const std::string& dataset_folder,
                             const std::function<void(int, int)>& progress = {});

}  // namespace nnuc::data::synth
