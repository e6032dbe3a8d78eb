// Presets and the single rules of planning (target spacing, transpose, shapes, initial patch,
// normalization, reader/writer); planner.cpp composes them into configurations.
#include <algorithm>
#include <cctype>
#include <cmath>

#include "data/preprocess/normalization.h"
#include "data/preprocess/numpy_stats.h"
#include "data/preprocess/resample.h"
#include "kernels/core/error.h"
#include "planner/numeric.h"
#include "planner/planner.h"

namespace nnuc::planner {

namespace {
std::vector<double> column(const std::vector<std::array<double, 3>>& rows, std::size_t axis) {
  std::vector<double> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(row[axis]);
  return out;
}

std::vector<double> column(const std::vector<std::array<std::int64_t, 3>>& rows, std::size_t axis) {
  std::vector<double> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(static_cast<double>(row[axis]));
  return out;
}

void check_fingerprint(const data::DatasetFingerprint& fingerprint) {
  NNUC_CHECK(!fingerprint.spacings.empty(), "fingerprint: no spacings (expected one per training case)");
  NNUC_CHECK(fingerprint.spacings.size() == fingerprint.shapes_after_crop.size(),
             "fingerprint: ", fingerprint.spacings.size(), " spacings but ", fingerprint.shapes_after_crop.size(),
             " shapes_after_crop; expected one of each per training case");
}

std::string case_folded(const std::string& text) {
  std::string out = text;
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}
}  // namespace

// ---- Presets ---------------------------------------------------------------------------------

PlannerPreset default_planner_preset() {
  PlannerPreset p;
  p.planner_name = "ExperimentPlanner";
  p.plans_name = "nnUNetPlans";
  p.network_class = NetworkClass::PlainConvUNet;
  p.default_gpu_memory_gb = 8.0;
  p.reference = NnunetReference{560000000.0, 85000000.0, 8.0, 2, 12};
  p.max_dataset_covered = 0.05;
  p.blocks_per_stage_encoder.assign(14, 2);
  p.conv_per_stage_decoder.assign(13, 2);
  p.shrink_until_reference_batch_fits = false;
  p.share_default_data_identifiers = false;
  return p;
}

PlannerPreset resenc_planner_preset() {
  PlannerPreset p = default_planner_preset();
  p.planner_name = "ResEncUNetPlanner";
  p.plans_name = "nnUNetResEncUNetPlans";
  p.network_class = NetworkClass::ResidualEncoderUNet;
  p.reference = NnunetReference{680000000.0, 135000000.0, 8.0, 2, 12};
  p.blocks_per_stage_encoder = {1, 3, 4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6};
  p.conv_per_stage_decoder.assign(12, 1);
  p.shrink_until_reference_batch_fits = true;
  p.share_default_data_identifiers = true;
  return p;
}

PlannerPreset resenc_m_preset() {
  PlannerPreset p = resenc_planner_preset();
  p.planner_name = "nnUNetPlannerResEncM";
  p.plans_name = "nnUNetResEncUNetMPlans";
  p.max_dataset_covered = 1.0;
  return p;
}

PlannerPreset resenc_l_preset() {
  PlannerPreset p = resenc_planner_preset();
  p.planner_name = "nnUNetPlannerResEncL";
  p.plans_name = "nnUNetResEncUNetLPlans";
  p.default_gpu_memory_gb = 24.0;
  p.reference = NnunetReference{2100000000.0, 380000000.0, 24.0, 2, 12};
  p.max_dataset_covered = 1.0;
  return p;
}

PlannerPreset resenc_xl_preset() {
  PlannerPreset p = resenc_planner_preset();
  p.planner_name = "nnUNetPlannerResEncXL";
  p.plans_name = "nnUNetResEncUNetXLPlans";
  p.default_gpu_memory_gb = 40.0;
  p.reference = NnunetReference{3600000000.0, 560000000.0, 40.0, 2, 12};
  p.max_dataset_covered = 1.0;
  return p;
}

PlannerPreset planner_preset_by_name(const std::string& name) {
  if (name == "ExperimentPlanner" || name == "default" || name == "nnUNetPlans") return default_planner_preset();
  if (name == "ResEncUNetPlanner" || name == "ResEnc") return resenc_planner_preset();
  if (name == "nnUNetPlannerResEncM" || name == "ResEncM" || name == "M") return resenc_m_preset();
  if (name == "nnUNetPlannerResEncL" || name == "ResEncL" || name == "L") return resenc_l_preset();
  if (name == "nnUNetPlannerResEncXL" || name == "ResEncXL" || name == "XL") return resenc_xl_preset();
  NNUC_THROW(InvalidInput, "unknown planner \"", name,
             "\"; expected one of ExperimentPlanner (default), ResEncUNetPlanner, nnUNetPlannerResEncM (M), "
             "nnUNetPlannerResEncL (L), nnUNetPlannerResEncXL (XL)");
}

// ---- Spacing, transpose, shapes ----------------------------------------------------------------

std::array<double, 3> fullres_target_spacing(const data::DatasetFingerprint& fingerprint,
                                             const std::optional<std::array<double, 3>>& overwrite) {
  if (overwrite) {
    for (std::size_t a = 0; a < 3; ++a) {
      NNUC_CHECK(std::isfinite((*overwrite)[a]) && (*overwrite)[a] > 0.0, "overwrite_target_spacing[", a,
                 "] = ", (*overwrite)[a], ", expected a finite spacing > 0");
    }
    return *overwrite;
  }
  check_fingerprint(fingerprint);
  std::array<double, 3> target{};
  std::vector<double> target_size(3);
  for (std::size_t a = 0; a < 3; ++a) {
    target[a] = data::numpy_percentile_f64(column(fingerprint.spacings, a), 50.0);
    target_size[a] = data::numpy_percentile_f64(column(fingerprint.shapes_after_crop, a), 50.0);
  }
  const std::size_t worst = argmax_first({target[0], target[1], target[2]});
  double max_other_spacing = 0.0;
  double min_other_size = 0.0;
  bool first = true;
  for (std::size_t a = 0; a < 3; ++a) {
    if (a == worst) continue;
    max_other_spacing = first ? target[a] : std::max(max_other_spacing, target[a]);
    min_other_size = first ? target_size[a] : std::min(min_other_size, target_size[a]);
    first = false;
  }
  const bool anisotropic_spacing = target[worst] > data::kAnisotropyThreshold * max_other_spacing;
  const bool anisotropic_voxels = target_size[worst] * data::kAnisotropyThreshold < min_other_size;
  if (anisotropic_spacing && anisotropic_voxels) {
    double spacing_of_that_axis = data::numpy_percentile_f64(column(fingerprint.spacings, worst), 10.0);
    // Do not let the worst axis end up finer than the others.
    if (spacing_of_that_axis < max_other_spacing) {
      spacing_of_that_axis = std::max(max_other_spacing, spacing_of_that_axis) + 1e-5;
    }
    target[worst] = spacing_of_that_axis;
  }
  return target;
}

Transpose determine_transpose(const std::array<double, 3>& target_spacing, bool suppress_transpose) {
  Transpose t;
  if (suppress_transpose) return t;
  const int worst = static_cast<int>(argmax_first({target_spacing[0], target_spacing[1], target_spacing[2]}));
  int next = 1;
  t.forward[0] = worst;
  for (int a = 0; a < 3; ++a) {
    if (a != worst) t.forward[next++] = a;
  }
  for (int a = 0; a < 3; ++a) t.backward[t.forward[a]] = a;
  return t;
}

std::array<double, 3> median_resampled_shape(const data::DatasetFingerprint& fingerprint,
                                             const std::array<double, 3>& target) {
  check_fingerprint(fingerprint);
  std::array<double, 3> median_shape{};
  for (std::size_t a = 0; a < 3; ++a) {
    NNUC_CHECK(target[a] > 0.0, "median_resampled_shape: target spacing[", a, "] = ", target[a], ", expected > 0");
    std::vector<double> new_sizes;
    new_sizes.reserve(fingerprint.spacings.size());
    for (std::size_t i = 0; i < fingerprint.spacings.size(); ++i) {
      const double size =
          fingerprint.spacings[i][a] / target[a] * static_cast<double>(fingerprint.shapes_after_crop[i][a]);
      new_sizes.push_back(static_cast<double>(round_half_even_to_int(size)));
    }
    median_shape[a] = data::numpy_median_f64(new_sizes);
  }
  return median_shape;
}

std::vector<double> initial_patch_size(const std::vector<double>& spacing, const std::vector<double>& median_shape) {
  const std::size_t dim = spacing.size();
  NNUC_CHECK(dim == 2 || dim == 3, "initial_patch_size: spacing has ", dim, " entries, expected 2 or 3");
  NNUC_CHECK(median_shape.size() >= dim, "initial_patch_size: median shape has ", median_shape.size(),
             " entries, expected ", dim);
  std::vector<double> inverse(dim);
  for (std::size_t d = 0; d < dim; ++d) {
    NNUC_CHECK(std::isfinite(spacing[d]) && spacing[d] > 0.0, "initial_patch_size: spacing[", d, "] = ", spacing[d],
               ", expected a finite value > 0");
    inverse[d] = 1.0 / spacing[d];
  }
  // Scale the aspect ratio 1/spacing to the volume of a 256^3 (2-D: 2048^2) patch.
  const double scale =
      dim == 3 ? std::pow(16777216.0 / product(inverse), 1.0 / 3.0) : std::pow(4194304.0 / product(inverse), 1.0 / 2.0);
  std::vector<double> patch(dim);
  for (std::size_t d = 0; d < dim; ++d) {
    patch[d] = std::min(round_half_even(inverse[d] * scale), median_shape[d]);
  }
  return patch;
}

// ---- Normalization, reader/writer -------------------------------------------------------------

std::vector<bool> use_mask_for_norm(const std::vector<std::string>& schemes,
                                    double median_relative_size_after_cropping) {
  std::vector<bool> out;
  for (const std::string& scheme : schemes) {
    // Masking needs a scheme that leaves voxels outside the mask at zero (ZScore).
    out.push_back(median_relative_size_after_cropping < 0.75 &&
                  data::leaves_outside_mask_at_zero(data::normalization_scheme_from_name(scheme)));
  }
  return out;
}

std::string image_reader_writer_for(const data::DatasetJson& dataset) {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kReaders = {
      {"NaturalImage2DIO", {".png", ".bmp", ".tif"}},
      {"SimpleITKIO", {".nii.gz", ".nrrd", ".mha", ".gipl"}},
      {"Tiff3DIO", {".tif", ".tiff"}},
      {"NibabelIO", {".nii", ".nii.gz"}},
      {"NibabelIOWithReorient", {".nii", ".nii.gz"}},
  };
  static const std::vector<std::string> kOtherKnown = {"SimpleITKIOWithReorient"};
  if (!dataset.overwrite_image_reader_writer.empty()) {
    const std::string& name = dataset.overwrite_image_reader_writer;
    bool known = std::find(kOtherKnown.begin(), kOtherKnown.end(), name) != kOtherKnown.end();
    for (const auto& reader : kReaders) known = known || reader.first == name;
    // nnU-Net falls back to auto-detection when the named class does not exist.
    if (known) return name;
  }
  const std::string ending = case_folded(dataset.file_ending);
  for (const auto& [name, endings] : kReaders) {
    if (std::find(endings.begin(), endings.end(), ending) != endings.end()) return name;
  }
  NNUC_THROW(InvalidInput, "dataset.json: field \"file_ending\" = \"", dataset.file_ending,
             "\" has no image reader/writer; expected one of .nii.gz .nii .nrrd .mha .gipl .png .bmp .tif .tiff");
}

}  // namespace nnuc::planner
