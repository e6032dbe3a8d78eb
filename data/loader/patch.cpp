#include "data/loader/patch.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "data/preprocess/resample.h"
#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

constexpr double kPi = 3.141592653589793;

// Degrees to radians the way nnU-Net writes it: deg / 360 * 2. * np.pi, left to right.
double radians(double degrees) { return degrees / 360.0 * 2.0 * kPi; }

void check_patch(const std::vector<std::int64_t>& patch, const char* what) {
  NNUC_CHECK(patch.size() == 2 || patch.size() == 3, what, ": a patch size has 2 or 3 values, got ", patch.size());
  for (const std::int64_t size : patch) NNUC_CHECK(size >= 1, what, ": patch sizes must be positive, got ", size);
}

// Python's floor division and modulo for a positive divisor.
std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && (a < 0)); }

// v (row vector) times a 3x3 matrix: the |·| of each entry.
std::array<double, 3> abs_row_times(const std::array<double, 3>& v, const double (&m)[3][3]) {
  std::array<double, 3> out{};
  for (int j = 0; j < 3; ++j) out[j] = std::fabs(v[0] * m[0][j] + v[1] * m[1][j] + v[2] * m[2][j]);
  return out;
}

bool is_annotated_class(const ClassLocations& locations) {
  return !locations.key.labels.empty() && locations.key.labels.front() == -1;
}

// Centres the patch on a random stored voxel of class `class_index`.
void centre_on_class(PhiloxDraws& draws, const SamplerSettings& settings, const PatchBounds& bounds,
                     const std::vector<ClassLocations>& classes, int class_index, PatchChoice& choice) {
  const auto& voxels = classes[static_cast<std::size_t>(class_index)].voxels;
  const auto& voxel = voxels[static_cast<std::size_t>(draws.below(voxels.size()))];
  choice.class_index = class_index;
  choice.voxel = voxel;
  for (int d = 0; d < 3; ++d)
    choice.corner[d] = std::max(bounds.lower[d], static_cast<std::int64_t>(voxel[d]) - settings.patch_load[d] / 2);
}

}  // namespace

AugmentationGeometry rotation_and_dummy_2d(const std::vector<std::int64_t>& patch) {
  check_patch(patch, "rotation_and_dummy_2d");
  AugmentationGeometry geometry;
  const double largest = static_cast<double>(*std::max_element(patch.begin(), patch.end()));
  double degrees;
  if (patch.size() == 2) {
    const double smallest = static_cast<double>(*std::min_element(patch.begin(), patch.end()));
    degrees = largest / smallest > 1.5 ? 15.0 : 180.0;
    geometry.mirror_axes = {0, 1};
  } else {
    geometry.dummy_2d = largest / static_cast<double>(patch[0]) > kAnisotropyThreshold;
    degrees = geometry.dummy_2d ? 180.0 : 30.0;
    geometry.mirror_axes = {0, 1, 2};
  }
  geometry.rotation_range.fill(radians(degrees));
  return geometry;
}

std::vector<std::int64_t> enlarged_patch_size(const std::vector<std::int64_t>& patch,
                                              const std::array<double, 3>& rotation_range, bool dummy_2d,
                                              const std::array<double, 2>& scale_range) {
  check_patch(patch, "enlarged_patch_size");
  NNUC_CHECK(scale_range[0] > 0 && scale_range[1] > 0, "enlarged_patch_size: scale range must be positive, got (",
             scale_range[0], ", ", scale_range[1], ")");
  const double cap = radians(90.0);
  std::array<double, 3> theta{};
  for (int d = 0; d < 3; ++d) theta[d] = std::min(cap, std::fabs(rotation_range[d]));

  std::vector<double> shape(patch.begin(), patch.end());
  if (patch.size() == 3) {
    const std::array<double, 3> v = {shape[0], shape[1], shape[2]};
    const double cx = std::cos(theta[0]), sx = std::sin(theta[0]);
    const double cy = std::cos(theta[1]), sy = std::sin(theta[1]);
    const double cz = std::cos(theta[2]), sz = std::sin(theta[2]);
    const double rx[3][3] = {{1, 0, 0}, {0, cx, -sx}, {0, sx, cx}};
    const double ry[3][3] = {{cy, 0, sy}, {0, 1, 0}, {-sy, 0, cy}};
    const double rz[3][3] = {{cz, -sz, 0}, {sz, cz, 0}, {0, 0, 1}};
    for (const auto* rotation : {&rx, &ry, &rz}) {
      const std::array<double, 3> rotated = abs_row_times(v, *rotation);
      for (int d = 0; d < 3; ++d) shape[d] = std::max(shape[d], rotated[d]);
    }
  } else {
    const double c = std::cos(theta[0]), s = std::sin(theta[0]);
    const double rotated0 = std::fabs(shape[0] * c + shape[1] * s);
    const double rotated1 = std::fabs(shape[0] * -s + shape[1] * c);
    shape[0] = std::max(shape[0], rotated0);
    shape[1] = std::max(shape[1], rotated1);
  }
  const double smallest_scale = std::min(scale_range[0], scale_range[1]);
  std::vector<std::int64_t> out(patch.size());
  for (std::size_t d = 0; d < patch.size(); ++d) out[d] = static_cast<std::int64_t>(shape[d] / smallest_scale);
  if (dummy_2d && patch.size() == 3) out[0] = patch[0];
  return out;
}

Shape3 sampling_patch(const std::vector<std::int64_t>& patch) {
  check_patch(patch, "sampling_patch");
  if (patch.size() == 2) return {1, patch[0], patch[1]};
  return {patch[0], patch[1], patch[2]};
}

bool foreground_forced(std::int64_t element, std::int64_t batch_size, double oversample) {
  // std::nearbyint rounds half to even in the default rounding mode, as Python's round() does.
  const double threshold = std::nearbyint(static_cast<double>(batch_size) * (1.0 - oversample));
  return !(static_cast<double>(element) < threshold);
}

RankBatch rank_batch(std::int64_t global_batch_size, int world_size, int rank, double oversample) {
  NNUC_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "rank_batch: rank ", rank, " is not among the ",
             world_size, " ranks");
  NNUC_CHECK(global_batch_size >= world_size, "rank_batch: the global batch size (", global_batch_size,
             ") must be at least the number of ranks (", world_size, ")");
  const std::int64_t base = global_batch_size / world_size, extra = global_batch_size % world_size;
  const auto size_of = [&](std::int64_t r) { return base + (r < extra ? 1 : 0); };
  RankBatch out;
  for (std::int64_t r = 0; r < rank; ++r) out.first_element += size_of(r);
  out.batch_size = size_of(rank);
  const std::int64_t low = out.first_element, high = low + out.batch_size;
  // nnU-Net: a rank wholly before the forced tail gets 0, wholly inside it 1, else the share of its
  // elements that the global rule forces.
  const double random_share = 1.0 - oversample;
  const double batch = static_cast<double>(global_batch_size);
  if (static_cast<double>(high) / batch < random_share) {
    out.oversample_foreground = 0.0;
  } else if (static_cast<double>(low) / batch > random_share) {
    out.oversample_foreground = 1.0;
  } else {
    std::int64_t forced = 0;
    for (std::int64_t j = low; j < high; ++j) forced += foreground_forced(j, global_batch_size, oversample) ? 1 : 0;
    out.oversample_foreground = static_cast<double>(forced) / static_cast<double>(out.batch_size);
  }
  out.forced.resize(static_cast<std::size_t>(out.batch_size));
  for (std::int64_t j = 0; j < out.batch_size; ++j)
    out.forced[static_cast<std::size_t>(j)] = foreground_forced(j, out.batch_size, out.oversample_foreground);
  return out;
}

PatchBounds padding_and_bounds(const Shape3& case_shape, const Shape3& patch_load, const Shape3& patch_final) {
  PatchBounds bounds;
  for (int d = 0; d < 3; ++d) {
    NNUC_CHECK(case_shape[d] >= 1 && patch_load[d] >= 1 && patch_final[d] >= 1,
               "padding_and_bounds: sizes must be positive (axis ", d, ": case ", case_shape[d], ", P_load ",
               patch_load[d], ", P_final ", patch_final[d], ")");
    std::int64_t pad = patch_load[d] - patch_final[d];
    if (case_shape[d] + pad < patch_load[d]) pad = patch_load[d] - case_shape[d];
    bounds.need_to_pad[d] = pad;
    bounds.lower[d] = floor_div(-pad, 2);
    // Python: shape + n // 2 + n % 2 - P_load, with n % 2 in {0, 1}.
    bounds.upper[d] = case_shape[d] + floor_div(pad, 2) + (pad - 2 * floor_div(pad, 2)) - patch_load[d];
  }
  return bounds;
}

std::size_t draw_case(PhiloxDraws& draws, std::size_t case_count) {
  NNUC_CHECK(case_count >= 1, "draw_case: there are no cases to draw from");
  return static_cast<std::size_t>(draws.below(case_count));
}

void draw_corner(PhiloxDraws& draws, const SamplerSettings& settings, const CaseForSampling& sampled_case, bool forced,
                 PatchChoice& choice) {
  const PatchBounds bounds = padding_and_bounds(sampled_case.shape, settings.patch_load, settings.patch_final);
  choice.forced = forced;
  choice.class_index = -1;
  choice.voxel = {0, 0, 0};
  const std::vector<ClassLocations>* classes = sampled_case.class_locations;
  if (classes != nullptr && (forced || settings.has_ignore_label)) {
    int selected = -1;
    if (forced) {
      std::vector<int> eligible;
      int annotated_position = -1;
      for (std::size_t k = 0; k < classes->size(); ++k) {
        if ((*classes)[k].voxels.empty()) continue;
        if (annotated_position < 0 && is_annotated_class((*classes)[k]))
          annotated_position = static_cast<int>(eligible.size());
        eligible.push_back(static_cast<int>(k));
      }
      if (annotated_position >= 0 && eligible.size() > 1) eligible.erase(eligible.begin() + annotated_position);
      if (!eligible.empty()) selected = eligible[static_cast<std::size_t>(draws.below(eligible.size()))];
    } else {
      for (std::size_t k = 0; k < classes->size(); ++k) {
        if (is_annotated_class((*classes)[k])) {
          if (!(*classes)[k].voxels.empty()) selected = static_cast<int>(k);
          break;
        }
      }
    }
    if (selected >= 0) {
      centre_on_class(draws, settings, bounds, *classes, selected, choice);
      return;
    }
  }
  for (int d = 0; d < 3; ++d) choice.corner[d] = draws.between(bounds.lower[d], bounds.upper[d]);
}

PhiloxDraws element_draws(PhiloxKey key, std::uint64_t iteration, std::int64_t element) {
  NNUC_CHECK(iteration <= std::numeric_limits<std::uint32_t>::max(), "the sampler counts iterations below 2^32, got ",
             iteration);
  NNUC_CHECK(element >= 0 && element <= std::numeric_limits<std::uint32_t>::max(), "batch element ", element,
             " is out of range");
  return PhiloxDraws(key, static_cast<std::uint32_t>(iteration), static_cast<std::uint32_t>(element), 0);
}

PatchChoice draw_patch(PhiloxKey key, std::uint64_t iteration, std::int64_t element, bool forced,
                       const SamplerSettings& settings, std::size_t case_count,
                       const std::function<CaseForSampling(std::size_t case_index)>& describe_case) {
  PhiloxDraws draws = element_draws(key, iteration, element);
  PatchChoice choice;
  choice.case_index = draw_case(draws, case_count);
  draw_corner(draws, settings, describe_case(choice.case_index), forced, choice);
  return choice;
}

}  // namespace nnuc::data
