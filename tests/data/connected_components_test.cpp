// Connected-component labelling (data/components): hand-built cases, a flood-fill reference on
// random volumes, and bit-for-bit parity with scipy.ndimage.label and nnU-Net's keep-largest on
// generated and real (Debian mricron-data) volumes. tests/data/connected_components_scipy.py writes
// the scipy references; this test runs it with /usr/bin/python3. Outside CI a missing python3 /
// scipy skips the parity test; with CI=true it fails.
#include "data/components/connected_components.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;
using testing::in_ci;
using testing::random_mask;

std::int64_t index_of(const Shape3& shape, std::int64_t x, std::int64_t y, std::int64_t z) {
  return (x * shape[1] + y) * shape[2] + z;
}

// Flood fill from each unlabelled foreground voxel in raster order: numbers components by their
// first voxel, the numbering label_components promises.
std::vector<std::int32_t> flood_fill_reference(const std::vector<std::uint8_t>& mask, const Shape3& shape,
                                               Connectivity connectivity, std::int32_t& count) {
  std::vector<std::int32_t> labels(mask.size(), 0);
  count = 0;
  std::vector<std::int64_t> stack;
  for (std::int64_t seed = 0; seed < static_cast<std::int64_t>(mask.size()); ++seed) {
    if (mask[static_cast<std::size_t>(seed)] == 0 || labels[static_cast<std::size_t>(seed)] != 0) continue;
    ++count;
    labels[static_cast<std::size_t>(seed)] = count;
    stack.push_back(seed);
    while (!stack.empty()) {
      const std::int64_t v = stack.back();
      stack.pop_back();
      const std::int64_t x = v / (shape[1] * shape[2]), y = v / shape[2] % shape[1], z = v % shape[2];
      for (int dx = -1; dx <= 1; ++dx)
        for (int dy = -1; dy <= 1; ++dy)
          for (int dz = -1; dz <= 1; ++dz) {
            const int steps = std::abs(dx) + std::abs(dy) + std::abs(dz);
            if (steps == 0 || (connectivity == Connectivity::face && steps > 1)) continue;
            const std::int64_t nx = x + dx, ny = y + dy, nz = z + dz;
            if (nx < 0 || ny < 0 || nz < 0 || nx >= shape[0] || ny >= shape[1] || nz >= shape[2]) continue;
            const auto n = static_cast<std::size_t>(index_of(shape, nx, ny, nz));
            if (mask[n] == 0 || labels[n] != 0) continue;
            labels[n] = count;
            stack.push_back(static_cast<std::int64_t>(n));
          }
    }
  }
  return labels;
}

TEST(ConnectedComponents, DiagonalNeighboursTouchOnlyWithFullConnectivity) {
  const Shape3 shape{3, 3, 3};
  std::vector<std::uint8_t> mask(27, 0);
  mask[static_cast<std::size_t>(index_of(shape, 0, 0, 0))] = 1;
  mask[static_cast<std::size_t>(index_of(shape, 1, 1, 1))] = 1;  // corner contact
  mask[static_cast<std::size_t>(index_of(shape, 2, 1, 1))] = 1;  // face contact with (1, 1, 1)
  const ComponentLabels full = label_components(mask, shape, Connectivity::full);
  EXPECT_EQ(full.count, 1);
  const ComponentLabels face = label_components(mask, shape, Connectivity::face);
  EXPECT_EQ(face.count, 2);
  EXPECT_EQ(face.labels[static_cast<std::size_t>(index_of(shape, 0, 0, 0))], 1);
  EXPECT_EQ(face.labels[static_cast<std::size_t>(index_of(shape, 1, 1, 1))], 2);
  EXPECT_EQ(face.labels[static_cast<std::size_t>(index_of(shape, 2, 1, 1))], 2);
}

TEST(ConnectedComponents, NumbersComponentsByTheirFirstVoxelAfterMerges) {
  // Row 0: voxels at z = 0 and 2 start two provisional labels that the voxel (1, 1) joins (a V, one
  // component with full connectivity: number 1); z = 4 of row 0 starts number 2; row 1, z = 6 comes
  // before row 3 in raster order, so it is number 3 and the pair in row 3 number 4.
  const Shape3 shape{1, 4, 8};
  std::vector<std::uint8_t> mask(32, 0);
  auto set = [&](std::int64_t y, std::int64_t z) { mask[static_cast<std::size_t>(index_of(shape, 0, y, z))] = 1; };
  set(0, 0);
  set(0, 2);
  set(1, 1);
  set(0, 4);
  set(1, 6);
  set(3, 0);
  set(3, 1);
  for (Connectivity connectivity : {Connectivity::full, Connectivity::face}) {
    const ComponentLabels got = label_components(mask, shape, connectivity);
    std::int32_t want_count = 0;
    EXPECT_EQ(got.labels, flood_fill_reference(mask, shape, connectivity, want_count));
    EXPECT_EQ(got.count, want_count);
  }
  const ComponentLabels full = label_components(mask, shape, Connectivity::full);
  EXPECT_EQ(full.count, 4);
  EXPECT_EQ(full.labels[static_cast<std::size_t>(index_of(shape, 0, 0, 2))], 1);
  EXPECT_EQ(full.labels[static_cast<std::size_t>(index_of(shape, 0, 0, 4))], 2);
  EXPECT_EQ(full.labels[static_cast<std::size_t>(index_of(shape, 0, 1, 6))], 3);
  EXPECT_EQ(full.labels[static_cast<std::size_t>(index_of(shape, 0, 3, 1))], 4);
}

TEST(ConnectedComponents, MatchesFloodFillOnRandomVolumes) {
  const std::array<Shape3, 7> shapes{
      {{7, 9, 11}, {1, 23, 17}, {13, 1, 12}, {10, 12, 1}, {1, 1, 40}, {16, 14, 15}, {1, 1, 1}}};
  for (const Shape3& shape : shapes) {
    for (double density : {0.05, 0.25, 0.45, 0.6, 0.85}) {
      const std::vector<std::uint8_t> mask = random_mask(shape, density);
      for (Connectivity connectivity : {Connectivity::full, Connectivity::face}) {
        std::int32_t want_count = 0;
        const std::vector<std::int32_t> want = flood_fill_reference(mask, shape, connectivity, want_count);
        const ComponentLabels got = label_components(mask, shape, connectivity);
        ASSERT_EQ(got.count, want_count) << "shape (" << shape[0] << ", " << shape[1] << ", " << shape[2]
                                         << ") density " << density;
        ASSERT_EQ(got.labels, want);
      }
    }
  }
}

TEST(ConnectedComponents, SizesAndLargestComponentsKeepTies) {
  const Shape3 shape{2, 6, 6};
  std::vector<std::uint8_t> mask(72, 0);
  for (std::int64_t y : {0, 1})
    for (std::int64_t z : {0, 1}) mask[static_cast<std::size_t>(index_of(shape, 0, y, z))] = 1;  // 4 voxels
  for (std::int64_t y : {4, 5})
    for (std::int64_t z : {4, 5}) mask[static_cast<std::size_t>(index_of(shape, 1, y, z))] = 1;  // 4 voxels (tie)
  mask[static_cast<std::size_t>(index_of(shape, 1, 0, 5))] = 1;                                  // 1 voxel
  const ComponentLabels components = label_components(mask, shape);
  ASSERT_EQ(components.count, 3);
  EXPECT_EQ(component_sizes(components), (std::vector<std::int64_t>{63, 4, 1, 4}));
  std::vector<std::uint8_t> want = mask;
  want[static_cast<std::size_t>(index_of(shape, 1, 0, 5))] = 0;
  EXPECT_EQ(largest_components(mask, shape), want);
  EXPECT_EQ(largest_components(std::vector<std::uint8_t>(72, 0), shape), std::vector<std::uint8_t>(72, 0));
}

TEST(ConnectedComponents, RemoveAllButLargestComponentTouchesOnlyTheMaskedLabels) {
  // Labels 1 and 2 together form one big component plus a stray voxel of label 2; label 3 has two
  // pieces and is not in the mask, so it stays.
  const Shape3 shape{1, 5, 7};
  std::vector<std::int16_t> seg(35, 0);
  auto at = [&](std::int64_t y, std::int64_t z) -> std::int16_t& {
    return seg[static_cast<std::size_t>(index_of(shape, 0, y, z))];
  };
  at(0, 0) = 1;
  at(0, 1) = 2;
  at(1, 1) = 1;
  at(4, 6) = 2;
  at(2, 4) = 3;
  at(4, 0) = 3;
  const Tensor segmentation = Tensor::from_vector(Shape{1, 5, 7}, seg);
  const Tensor out = remove_all_but_largest_component(segmentation, {{1, 2}}, 0);
  std::vector<std::int16_t> want = seg;
  want[static_cast<std::size_t>(index_of(shape, 0, 4, 6))] = 0;
  EXPECT_EQ(out.to_vector<std::int16_t>(), want);
  // Per label: label 2's largest piece is a single voxel tied with the other one: both stay.
  EXPECT_EQ(remove_all_but_largest_component(segmentation, {{2}}, 0).to_vector<std::int16_t>(), seg);
  want = seg;
  want[static_cast<std::size_t>(index_of(shape, 0, 4, 0))] = 7;
  want[static_cast<std::size_t>(index_of(shape, 0, 2, 4))] = 7;
  EXPECT_EQ(remove_all_but_largest_component(segmentation, {{3}, {1}}, 7).to_vector<std::int16_t>(), want);
}

TEST(ConnectedComponents, RejectsMismatchedInputs) {
  EXPECT_ERROR_MENTIONS(label_components(std::vector<std::uint8_t>(10, 1), Shape3{2, 2, 2}), "needs 8");
  EXPECT_ERROR_MENTIONS(label_components(std::vector<std::uint8_t>{}, Shape3{0, 2, 2}), "extent");
  const Tensor wrong = Tensor::from_vector(Shape{2, 2, 2}, std::vector<float>(8, 1.0f));
  EXPECT_ERROR_MENTIONS(remove_all_but_largest_component(wrong, {{1}}), "i16 (a0, a1, a2)");
}

// ---- parity with scipy.ndimage.label ------------------------------------------------------------

template <typename T>
std::vector<T> read_raw(const fs::path& path, const nlohmann::json& shape) {
  std::int64_t count = 1;
  for (const auto& d : shape) count *= d.get<std::int64_t>();
  std::vector<T> values(static_cast<std::size_t>(count));
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(T)));
  EXPECT_TRUE(in.good() && in.gcount() == static_cast<std::streamsize>(values.size() * sizeof(T))) << path;
  return values;
}

Shape3 shape3(const nlohmann::json& shape) {
  const auto d = shape.get<std::vector<std::int64_t>>();
  return {d.at(0), d.at(1), d.at(2)};
}

TEST(ConnectedComponentsScipyParity, LabelsAndKeepLargestMatchScipyBitForBit) {
  const fs::path python = "/usr/bin/python3";
  const fs::path script = fs::path(__FILE__).parent_path() / "connected_components_scipy.py";
  ASSERT_TRUE(fs::exists(script)) << script;
  if (!fs::exists(python)) {
    if (in_ci()) FAIL() << "CI needs " << python << " with python3-scipy";
    GTEST_SKIP() << "no " << python;
  }
  const fs::path folder = fs::temp_directory_path() / ("nnuc_components_scipy_" + std::to_string(::getpid()));
  fs::remove_all(folder);
  const std::string command = python.string() + " '" + script.string() + "' '" + folder.string() + "'";
  const int status = std::system(command.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 3) {
    fs::remove_all(folder);
    if (in_ci()) FAIL() << "python3-numpy / python3-scipy missing in CI";
    GTEST_SKIP() << "python3 lacks numpy or scipy (apt-get install python3-scipy)";
  }
  ASSERT_EQ(code, 0) << command;
  nlohmann::json manifest;
  {
    std::ifstream in(folder / "manifest.json");
    manifest = nlohmann::json::parse(in);
  }
  std::cout << "[parity] numpy " << manifest["numpy"].get<std::string>() << ", scipy "
            << manifest["scipy"].get<std::string>() << "\n";
  int label_cases = 0, keep_cases = 0, real_cases = 0;
  for (const auto& c : manifest["cases"]) {
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    if (name.rfind("real_", 0) == 0) ++real_cases;
    if (c["kind"] == "label") {
      const Shape3 shape = shape3(c["mask"]["shape"]);
      const auto mask = read_raw<std::uint8_t>(folder / c["mask"]["file"].get<std::string>(), c["mask"]["shape"]);
      for (const auto& [structure, expected] : c["expected"].items()) {
        const Connectivity connectivity = structure == "full" ? Connectivity::full : Connectivity::face;
        const auto want = read_raw<std::int32_t>(folder / expected["file"].get<std::string>(), expected["shape"]);
        const ComponentLabels got = label_components(mask, shape, connectivity);
        EXPECT_EQ(got.count, expected["count"].get<std::int32_t>()) << structure;
        std::int64_t differing = 0;
        for (std::size_t i = 0; i < want.size(); ++i) differing += got.labels[i] != want[i];
        EXPECT_EQ(differing, 0) << structure << ": voxels labelled differently from scipy";
        std::cout << "[parity] " << name << " (" << structure << "): " << got.count << " components, " << want.size()
                  << " voxels, " << differing << " differ\n";
      }
      ++label_cases;
    } else {
      ASSERT_EQ(c["kind"], "keep_largest");
      const auto& entry = c["segmentation"];
      const Shape3 shape = shape3(entry["shape"]);
      const Tensor segmentation =
          Tensor::from_vector(Shape{shape[0], shape[1], shape[2]},
                              read_raw<std::int16_t>(folder / entry["file"].get<std::string>(), entry["shape"]));
      const auto want =
          read_raw<std::int16_t>(folder / c["expected"]["file"].get<std::string>(), c["expected"]["shape"]);
      const auto labels_or_regions = c["labels_or_regions"].get<std::vector<std::vector<int>>>();
      EXPECT_EQ(remove_all_but_largest_component(segmentation, labels_or_regions).to_vector<std::int16_t>(), want);
      ++keep_cases;
    }
  }
  fs::remove_all(folder);
  EXPECT_GE(label_cases, 20);
  EXPECT_GE(keep_cases, 3);
  if (in_ci()) {
    EXPECT_GE(real_cases, 4) << "CI installs mricron-data and python3-nibabel: real volumes expected";
  }
}

}  // namespace
}  // namespace nnuc::data
