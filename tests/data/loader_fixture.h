// Small preprocessed stores for the loader tests: random cases written with write_preprocessed_case
// into a fresh temp folder (removed afterwards), class locations sampled as preprocessing does.
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/preprocess/store.h"
#include "tests/support/test_support.h"

namespace nnuc::data::loader_testing {

namespace fs = std::filesystem;

class TempFolder {
 public:
  explicit TempFolder(const std::string& stem)
      : path_(fs::temp_directory_path() / (stem + "_" + std::to_string(testing::rng()()))) {
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// A case with random data (C, shape), labels 0..labels-1 with a band of -1 (outside the nonzero mask)
// along axis 2, and class locations for labels 1..labels-1 (+ the annotated class with an ignore label).
inline PreprocessedCase random_case(const std::string& identifier, std::int64_t channels, const Shape3& shape,
                                    int labels, bool ignore_label = false) {
  PreprocessedCase c;
  c.identifier = identifier;
  c.data = testing::random_uniform(Shape{channels, shape[0], shape[1], shape[2]}, DType::f32, -2, 2);
  c.seg = testing::random_labels(Shape{shape[0], shape[1], shape[2]}, DType::i16, labels);
  std::int16_t* seg = c.seg.data<std::int16_t>();
  for (std::int64_t i = 0; i < shape[0] * shape[1]; ++i) seg[i * shape[2]] = -1;
  std::vector<int> all_labels;
  for (int label = 0; label < labels; ++label) all_labels.push_back(label);
  c.properties.spacing = {1, 1, 1};
  c.properties.shape_before_cropping = shape;
  c.properties.bbox_used_for_cropping = {{0, 0, 0}, shape};
  c.properties.shape_after_cropping_and_before_resampling = shape;
  c.properties.spacing_after_resampling = {1, 1, 1};
  c.properties.has_class_locations = true;
  c.properties.class_locations =
      sample_class_locations(c.seg, classes_for_sampling(all_labels, {}, false, ignore_label), 1234, 50, 0.01);
  return c;
}

inline std::string write_case(const TempFolder& folder, const PreprocessedCase& c) {
  const std::string path = folder.file(c.identifier + ".nnuc");
  write_preprocessed_case(path, c);
  return path;
}

// The crop [corner, corner + size) of (channels, shape), one voxel at a time, `pad` outside.
template <typename T>
std::vector<T> crop_reference(const std::vector<T>& source, std::int64_t channels, const Shape3& shape,
                              const Shape3& corner, const Shape3& size, T pad) {
  std::vector<T> out;
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t o0 = 0; o0 < size[0]; ++o0)
      for (std::int64_t o1 = 0; o1 < size[1]; ++o1)
        for (std::int64_t o2 = 0; o2 < size[2]; ++o2) {
          const std::int64_t i0 = corner[0] + o0, i1 = corner[1] + o1, i2 = corner[2] + o2;
          const bool inside = i0 >= 0 && i0 < shape[0] && i1 >= 0 && i1 < shape[1] && i2 >= 0 && i2 < shape[2];
          out.push_back(inside ? source[static_cast<std::size_t>(((c * shape[0] + i0) * shape[1] + i1) * shape[2] + i2)]
                               : pad);
        }
  return out;
}

// Flips one byte in the middle of array `name` of a store file (its checksum then fails).
inline void damage_array(const std::string& path, const std::string& name) {
  std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
  char prefix[16];
  file.read(prefix, sizeof prefix);
  std::uint32_t header_bytes;
  std::memcpy(&header_bytes, prefix + 12, 4);
  std::string header(header_bytes, '\0');
  file.seekg(32);
  file.read(header.data(), header_bytes);
  const nlohmann::json document = nlohmann::json::parse(header);
  for (const auto& array : document.at("arrays")) {
    if (array.at("name") != name) continue;
    const auto offset = array.at("offset").get<std::int64_t>() + array.at("bytes").get<std::int64_t>() / 2;
    char byte;
    file.seekg(offset);
    file.get(byte);
    file.seekp(offset);
    file.put(static_cast<char>(byte ^ 0x5a));
    return;
  }
  ADD_FAILURE() << "no array '" << name << "' in " << path;
}

}  // namespace nnuc::data::loader_testing
