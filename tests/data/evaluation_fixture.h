// Shared by the evaluation and postprocessing tests: label maps written as NIfTI, a temp folder,
// the committed nnU-Net fixture (tests/data/fixtures/evaluation, gen_evaluation_fixtures.py).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "data/nifti/nifti_io.h"
#include "kernels/core/error.h"
#include "kernels/core/tensor.h"
#include "tests/data/loader_fixture.h"
#include "tests/support/test_support.h"

namespace nnuc::testing::evaluation {

namespace fs = std::filesystem;

inline fs::path fixture_dir() { return fs::path(__FILE__).parent_path() / "fixtures" / "evaluation"; }

// A fresh temp folder removed at the end of the test: folder.file("name") is a path inside it.
using data::loader_testing::TempFolder;

inline data::NiftiGeometry test_geometry(const std::array<std::int64_t, 3>& shape) {
  return data::make_nifti_geometry(shape, {3.0, 2.0, 1.5}, {-10.5, 20.25, 3.0}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
}

// An i16 (a0, a1, a2) label map.
inline Tensor label_map(const std::array<std::int64_t, 3>& shape, const std::vector<std::int16_t>& values) {
  return Tensor::from_vector<std::int16_t>(Shape({shape[0], shape[1], shape[2]}), values);
}

inline void write_case(const std::string& path, const Tensor& labels) {
  data::write_nifti_label(path, labels, test_geometry({labels.dim(0), labels.dim(1), labels.dim(2)}));
}

inline std::vector<std::int16_t> read_voxels(const std::string& path) {
  return data::read_nifti_label(path).labels.to_vector<std::int16_t>();
}

// The message of any nnuc error `run` throws, or "(no error thrown)".
inline std::string any_error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error thrown)";
}

// Names in `folder` (not recursive), sorted.
inline std::vector<std::string> folder_entries(const std::string& folder) {
  std::vector<std::string> names;
  if (!fs::is_directory(folder)) return names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace nnuc::testing::evaluation
