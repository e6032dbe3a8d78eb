// nnU-Net's experiment planning (spec §3): fingerprint + dataset.json -> plans with the 2d,
// 3d_fullres and, where needed, 3d_lowres + 3d_cascade_fullres configurations.
//
// The rules (target spacing, transpose, median resampled shape, initial patch, topology, patch
// shrinking, batch size, lowres search, batch Dice, normalization, resampling) are nnU-Net's, with
// its floating-point arithmetic and rounding reproduced; the memory model that sizes patches and
// batches is pluggable (planner/memory_model.h). With NnunetMemoryModel the plans equal nnU-Net's.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "data/preprocess/fingerprint.h"
#include "planner/memory_model.h"
#include "planner/plans.h"
#include "planner/topology.h"

namespace nnuc::planner {

// Constants of one nnU-Net planner class (spec §3.1, §3.11).
struct PlannerPreset {
  std::string planner_name;  // "experiment_planner_used": ExperimentPlanner, nnUNetPlannerResEncM, ...
  std::string plans_name;    // nnUNetPlans, nnUNetResEncUNetMPlans, ...
  NetworkClass network_class = NetworkClass::PlainConvUNet;
  double default_gpu_memory_gb = 8.0;
  NnunetReference reference;          // the nnunet memory model's calibration for this preset
  double max_dataset_covered = 0.05;  // batch cap: at most this fraction of the dataset's voxels
  int min_batch_size = 2;
  int base_features = 32;
  int max_features_3d = 320;
  int max_features_2d = 512;
  int min_feature_map_size = 4;               // bottleneck edge
  std::vector<int> blocks_per_stage_encoder;  // indexed by stage (at least 13 entries)
  std::vector<int> conv_per_stage_decoder;    // indexed by decoder stage (at least 12 entries)
  // Patch shrinking stops when this batch fits: false -> min_batch_size (default planner:
  // E / B_ref * 2 > R), true -> the reference batch of the dim (ResEnc planners: E > R).
  bool shrink_until_reference_batch_fits = false;
  // ResEnc planners name the 2d and 3d_fullres data "nnUNetPlans_*" (shared with the default plans).
  bool share_default_data_identifiers = false;
};

// ExperimentPlanner (nnUNetPlans), ResEncUNetPlanner, nnUNetPlannerResEncM/L/XL.
PlannerPreset default_planner_preset();
PlannerPreset resenc_planner_preset();
PlannerPreset resenc_m_preset();
PlannerPreset resenc_l_preset();
PlannerPreset resenc_xl_preset();
// Looks a preset up by planner class name (as above) or by short name: "default", "nnUNetPlans",
// "ResEncM"/"M", "ResEncL"/"L", "ResEncXL"/"XL". Throws InvalidInput listing the accepted names.
PlannerPreset planner_preset_by_name(const std::string& name);

struct PlannerOptions {
  std::string dataset_name;  // "DatasetXXX_Name" (written into the plans)
  PlannerPreset preset = default_planner_preset();
  std::optional<double> gpu_memory_target_gb;  // default: the preset's
  std::optional<std::string> plans_name;       // default: the preset's
  std::string preprocessor_name = "DefaultPreprocessor";
  // Untransposed (reader order) target spacing replacing the fingerprint's (-overwrite_target_spacing).
  std::optional<std::array<double, 3>> overwrite_target_spacing;
  bool suppress_transpose = false;
  // Empty: determined from dataset.json (image_reader_writer_for).
  std::string image_reader_writer;
};

// ---- The individual rules (exposed for tests and for `nnuc plan` diagnostics) ----------------

// Fullres target spacing (spec §3.2), untransposed: per-axis median (np.percentile 50) of the
// spacings; for anisotropic data (worst axis spacing > 3x the others' and 3x its median size < the
// others') the worst axis takes the 10th percentile, kept above the others' spacing (+1e-5).
std::array<double, 3> fullres_target_spacing(const data::DatasetFingerprint& fingerprint,
                                             const std::optional<std::array<double, 3>>& overwrite = std::nullopt);

struct Transpose {
  std::array<int, 3> forward{0, 1, 2};
  std::array<int, 3> backward{0, 1, 2};
};
// transpose_forward = [argmax(target) (first on ties)] + the other axes ascending (spec §3.3).
Transpose determine_transpose(const std::array<double, 3>& target_spacing, bool suppress_transpose = false);

// Per-axis median over cases of int(round(spacing / target * shape_after_crop)) (spec §3.4),
// untransposed; may be fractional (x.5).
std::array<double, 3> median_resampled_shape(const data::DatasetFingerprint& fingerprint,
                                             const std::array<double, 3>& target);

// Initial patch of spec §3.7 step 1: round(q * (256^3 / prod q)^(1/3)) (2-D: 2048^2, ^(1/2)) with
// q = 1/spacing, each clipped to the median shape.
std::vector<double> initial_patch_size(const std::vector<double>& spacing, const std::vector<double>& median_shape);

// use_mask_for_norm per channel (spec §3.10): the scheme leaves voxels outside the mask at zero
// (ZScore) and the median relative size after cropping is below 0.75. The scheme of a channel name
// is data::normalization_scheme_for_channel_name.
std::vector<bool> use_mask_for_norm(const std::vector<std::string>& schemes,
                                    double median_relative_size_after_cropping);

// nnU-Net's reader/writer auto-detection from the file ending (spec §1.4) without reading an
// example image: the first of NaturalImage2DIO, SimpleITKIO, Tiff3DIO, NibabelIO that lists the
// ending; dataset.json's overwrite_image_reader_writer wins when it names a known class. (nnU-Net
// also tries to read an example: a 3-D ".tif" dataset ends at Tiff3DIO there; pass
// PlannerOptions::image_reader_writer for it.)
std::string image_reader_writer_for(const data::DatasetJson& dataset);

// What planning one configuration needs besides its spacing and median shape.
struct ConfigurationContext {
  const data::DatasetJson* dataset = nullptr;
  const data::DatasetFingerprint* fingerprint = nullptr;
  const PlannerPreset* preset = nullptr;
  const MemoryModel* memory_model = nullptr;
  MemoryBudget budget;
  std::string preprocessor_name = "DefaultPreprocessor";
};

// The preset's network for a pooling/kernel layout: features per stage, kernels, strides, encoder
// blocks and decoder convolutions of the preset, input and output channels of the dataset.
NetworkTopology network_topology_for(const PlannerPreset& preset, const data::DatasetJson& dataset,
                                     const PoolAndConvProps& props, int dim);

// One step of the shrink loop (spec §3.7 step 6): the axis whose patch is largest relative to the
// median shape (the last one on ties) loses the divisor that the patch, reduced by the current
// divisor along that axis, has there; the result is padded again. `current` is the topology of the
// current patch. Returns the topology of the smaller patch; throws InvalidInput when the axis
// cannot shrink (reduced edge <= 0).
//
// "The next larger patch" of a planned patch P is its predecessor on the shrink path: the patches
// P_0 (the padded initial patch), P_1 = shrink_patch_step(P_0), ... up to P; the one just before P
// did not fit the shrink batch (that is why the loop went on), P does.
PoolAndConvProps shrink_patch_step(const std::vector<double>& spacing, const std::vector<double>& median_shape,
                                   const PoolAndConvProps& current, int min_feature_map_size = 4);

// nnU-Net's get_plans_for_configuration (spec §3.7): initial patch, topology, shrink loop, batch
// size. `spacing` and `median_shape` are transposed, 2 or 3 entries. batch_dice and next_stage are
// left for plan_experiment.
ConfigurationPlan plan_configuration(const ConfigurationContext& context, const std::vector<double>& spacing,
                                     const std::vector<double>& median_shape, bool median_is_integer,
                                     const std::string& data_identifier, double approximate_n_voxels_dataset);

// The whole planning (spec §3.8): all configurations and the global plans fields.
//   requires: the memory model outlives the call.
Plans plan_experiment(const data::DatasetJson& dataset, const data::DatasetFingerprint& fingerprint,
                      const PlannerOptions& options, const MemoryModel& memory_model);
// Same with the nnunet memory model calibrated for the preset (plans equal to nnU-Net's).
Plans plan_experiment(const data::DatasetJson& dataset, const data::DatasetFingerprint& fingerprint,
                      const PlannerOptions& options);

}  // namespace nnuc::planner
