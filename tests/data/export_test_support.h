// Helpers of the export and .npz tests (tests/data/export*_test.cpp, npz_test.cpp).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "kernels/core/error.h"

namespace nnuc::testing {

// CI=true: optional inputs (Debian data files, python3 with numpy) must be present there.
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// The message of the IoError `run` throws, or a note that it threw none (or another error).
inline std::string io_error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const IoError& error) {
    return error.what();
  } catch (const std::exception& error) {
    return std::string("(other exception: ") + error.what() + ")";
  }
  return "(no IoError thrown)";
}

// A test with its own empty scratch folder, removed afterwards.
class ScratchFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = std::filesystem::temp_directory_path() /
              ("nnuc_" + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_);
  }
  void TearDown() override { std::filesystem::remove_all(folder_); }
  std::string path(const std::string& name) const { return (folder_ / name).string(); }
  // The names in the folder, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder_))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  std::filesystem::path folder_;
};

}  // namespace nnuc::testing
