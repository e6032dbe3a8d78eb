// nnuc's patch sampling and the deterministic parts of augmentation against nnU-Net itself:
// tests/augment/fixtures/nnunet_parity.json holds what nnunetv2 2.8.1, batchgeneratorsv2 0.3.6 and
// acvl_utils compute for the same inputs (fixtures/gen_nnunet_parity.py writes it; versions inside).
//
// Compared: enlarged patch sizes (get_patch_size with nnUNetTrainer's rotation ranges and dummy-2D
// rule), foreground-forced batch positions, the patch bounds and the foreground-forced corner
// (nnUNetDataLoader.get_bbox), crop with padding (crop_and_pad_nd), mirroring, and the spatial
// transform with fixed rotation and scaling (image: every voxel; segmentation: every voxel whose
// sample position lies inside the crop and is not a tie between labels — see SpatialTransformAgrees).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/augment/spatial.h"
#include "data/augment/steps.h"
#include "data/loader/crop.h"
#include "data/loader/patch.h"
#include "kernels/core/context.h"

namespace nnuc::augment {
namespace {

const nlohmann::json& fixture() {
  static const nlohmann::json document = [] {
    std::ifstream in(std::filesystem::path(__FILE__).parent_path() / "fixtures" / "nnunet_parity.json");
    EXPECT_TRUE(in.good()) << "missing fixtures/nnunet_parity.json";
    return nlohmann::json::parse(in);
  }();
  return document;
}

data::Shape3 shape3(const nlohmann::json& values) {
  return {values[0].get<std::int64_t>(), values[1].get<std::int64_t>(), values[2].get<std::int64_t>()};
}

TEST(NnunetParity, EnlargedPatchSizes) {
  for (const auto& row : fixture()["enlarged_patch"]) {
    const auto patch = row["patch"].get<std::vector<std::int64_t>>();
    const data::AugmentationGeometry geometry = data::rotation_and_dummy_2d(patch);
    EXPECT_EQ(geometry.dummy_2d, row["dummy_2d"].get<bool>()) << row["patch"];
    EXPECT_NEAR(geometry.rotation_range[0], row["rotation_max"].get<double>(), 1e-12) << row["patch"];
    EXPECT_EQ(data::enlarged_patch_size(patch, geometry.rotation_range, geometry.dummy_2d),
              row["patch_load"].get<std::vector<std::int64_t>>())
        << row["patch"];
  }
}

TEST(NnunetParity, ForegroundForcedPositions) {
  for (const auto& row : fixture()["forced_positions"]) {
    const std::int64_t batch = row["batch"];
    std::vector<std::int64_t> forced;
    for (std::int64_t j = 0; j < batch; ++j)
      if (data::foreground_forced(j, batch)) forced.push_back(j);
    EXPECT_EQ(forced, row["forced"].get<std::vector<std::int64_t>>()) << "batch " << batch;
  }
}

TEST(NnunetParity, PatchBoundsAndForcedCorner) {
  int cases = 0;
  for (const auto& row : fixture()["bbox"]) {
    const data::Shape3 shape = shape3(row["shape"]), load = shape3(row["patch_load"]),
                       final = shape3(row["patch_final"]);
    const data::PatchBounds bounds = data::padding_and_bounds(shape, load, final);
    EXPECT_EQ(bounds.lower, shape3(row["lower_bounds"])) << row;
    EXPECT_EQ(bounds.upper, shape3(row["upper_bounds"])) << row;
    // One eligible class holding one voxel: nnU-Net's random choices have a single outcome.
    std::vector<data::ClassLocations> locations(1);
    locations[0].key = {{1}, false};
    locations[0].voxels.push_back({row["voxel"][0].get<std::int32_t>(), row["voxel"][1].get<std::int32_t>(),
                                   row["voxel"][2].get<std::int32_t>()});
    data::SamplerSettings settings;
    settings.patch_load = load;
    settings.patch_final = final;
    data::CaseForSampling sampled{shape, &locations};
    PhiloxDraws draws(philox_key(1, PhiloxStream::sampler), 0, 0, 0);
    data::PatchChoice choice;
    data::draw_corner(draws, settings, sampled, /*forced=*/true, choice);
    EXPECT_EQ(choice.corner, shape3(row["forced_corner"])) << row;
    ++cases;
  }
  EXPECT_GE(cases, 20);
}

TEST(NnunetParity, CropWithPadding) {
  for (const auto& row : fixture()["crop"]) {
    const auto data_shape = row["data_shape"].get<std::vector<std::int64_t>>();
    const data::Shape3 spatial{data_shape[1], data_shape[2], data_shape[3]};
    const data::Shape3 corner = shape3(row["corner"]), size = shape3(row["size"]);
    const auto source = row["data"].get<std::vector<float>>();
    const auto seg = row["seg"].get<std::vector<std::int16_t>>();
    std::vector<float> cropped(data_shape[0] * size[0] * size[1] * size[2]);
    std::vector<std::int16_t> seg_cropped(size[0] * size[1] * size[2]);
    data::crop_padded<float>(source.data(), data_shape[0], spatial, corner, size, 0.0f, cropped.data());
    data::crop_padded<std::int16_t>(seg.data(), 1, spatial, corner, size, std::int16_t{-1}, seg_cropped.data());
    EXPECT_EQ(cropped, row["data_cropped"].get<std::vector<float>>());
    EXPECT_EQ(seg_cropped, row["seg_cropped"].get<std::vector<std::int16_t>>());
  }
}

TEST(NnunetParity, MirroringAllAxes) {
  const Context& ctx = Context::cpu();
  for (const auto& row : fixture()["mirror"]) {
    const auto shape = row["shape"].get<std::vector<std::int64_t>>();  // (C, X, Y, Z)
    const Tensor image = Tensor::from_vector<float>(Shape{1, shape[0], shape[1], shape[2], shape[3]},
                                                    row["image"].get<std::vector<float>>());
    const Tensor flipped = mirror_samples(ctx, image, {kMirror0 | kMirror1 | kMirror2});
    EXPECT_EQ(flipped.to_vector<float>(), row["flipped"].get<std::vector<float>>());
  }
}

// The image agrees voxel for voxel within f32 rounding (batchgeneratorsv2 goes through grid_sample's
// normalized coordinates, nnuc computes positions directly). Labels: nnuc follows nnunet_method.md
// §7.3 (−1 wherever the sample position is outside [0, L−1]; ties to the smaller label), while
// batchgeneratorsv2 0.3.6 pads the segmentation with −1 as a label half a voxel past the edge and
// settles exact ties by the nearest neighbour. Away from the border and from ties both are the
// argmax of the interpolated label indicators, and there they must agree exactly.
TEST(NnunetParity, SpatialTransformAgrees) {
  const Context& ctx = Context::cpu();
  for (const auto& row : fixture()["spatial"]) {
    const data::Shape3 in = shape3(row["shape"]), patch = shape3(row["patch"]);
    const bool planar = in[0] == 1;
    const Tensor image =
        Tensor::from_vector<float>(Shape{1, 1, in[0], in[1], in[2]}, row["image"].get<std::vector<float>>());
    const Tensor seg = Tensor::from_vector<std::int16_t>(Shape{1, 1, in[0], in[1], in[2]},
                                                         row["seg"].get<std::vector<std::int16_t>>());
    SpatialParams params;
    params.rotated = true;
    params.scaled = true;
    params.angles = {row["angles"][0].get<double>(), row["angles"][1].get<double>(), row["angles"][2].get<double>()};
    if (planar) params.angles = {row["angles"][2].get<double>(), 0.0, 0.0};
    params.scale = row["scale"].get<double>();
    const SpatialResult result = spatial_transform(ctx, image, seg, {params}, patch, planar);
    const auto ours = result.data.to_vector<float>();
    const auto theirs = row["image_out"].get<std::vector<float>>();
    ASSERT_EQ(ours.size(), theirs.size());
    double worst = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) worst = std::max(worst, double(std::fabs(ours[i] - theirs[i])));
    EXPECT_LT(worst, 2e-5) << "image, case " << row["angles"] << " scale " << row["scale"];

    // Labels at voxels whose sample position is at least one voxel inside the crop and which are not
    // near-ties (the two largest interpolated indicators differ by more than 1 %).
    const auto our_labels = result.seg.to_vector<std::int16_t>();
    const auto their_labels = row["seg_out"].get<std::vector<int>>();
    const auto labels_in = row["seg"].get<std::vector<int>>();
    const std::array<double, 9> a = spatial_matrix(params, planar);
    std::int64_t compared = 0, differing = 0;
    for (std::int64_t i0 = 0; i0 < patch[0]; ++i0)
      for (std::int64_t i1 = 0; i1 < patch[1]; ++i1)
        for (std::int64_t i2 = 0; i2 < patch[2]; ++i2) {
          const double j[3] = {i0 - (patch[0] - 1) / 2.0, i1 - (patch[1] - 1) / 2.0, i2 - (patch[2] - 1) / 2.0};
          double x[3];
          bool inside = true;
          for (int r = 0; r < 3; ++r) {
            x[r] = a[3 * r] * j[0] + a[3 * r + 1] * j[1] + a[3 * r + 2] * j[2] + (in[r] - 1) / 2.0;
            if (!(planar && r == 0) && (x[r] < 1 || x[r] > in[r] - 2)) inside = false;
          }
          if (!inside) continue;
          // Interpolated indicators of the labels around x.
          std::map<int, double> score;
          const std::int64_t base[3] = {static_cast<std::int64_t>(std::floor(x[0])),
                                        static_cast<std::int64_t>(std::floor(x[1])),
                                        static_cast<std::int64_t>(std::floor(x[2]))};
          for (int corner = 0; corner < 8; ++corner) {
            std::int64_t p[3];
            double w = 1;
            for (int r = 0; r < 3; ++r) {
              const int up = (corner >> r) & 1;
              const double f = x[r] - base[r];
              p[r] = std::min<std::int64_t>(base[r] + up, in[r] - 1);
              w *= up ? f : 1 - f;
            }
            score[labels_in[(p[0] * in[1] + p[1]) * in[2] + p[2]]] += w;
          }
          std::vector<double> values;
          for (const auto& entry : score) values.push_back(entry.second);
          std::sort(values.rbegin(), values.rend());
          if (values.size() > 1 && values[0] - values[1] < 0.01) continue;
          const std::int64_t index = (i0 * patch[1] + i1) * patch[2] + i2;
          ++compared;
          differing += our_labels[index] != their_labels[index];
        }
    EXPECT_GT(compared, patch[0] * patch[1] * patch[2] / 4) << "too few voxels compared";
    EXPECT_EQ(differing, 0) << "labels differ at " << differing << " of " << compared << " voxels, case "
                            << row["angles"] << " scale " << row["scale"];
  }
}

}  // namespace
}  // namespace nnuc::augment
