// Conformance on NIfTI files that nobody here wrote: every .nii / .nii.gz shipped by Debian's
// python3-nibabel, python3-dipy and mricron-data (and libnifti2's example when present), plus
// files nibabel itself writes for the header paths those do not reach, is read by nnuc and by
// nibabel (Debian's /usr/bin/python3, tests/data/nibabel_conformance.py), and the arrays,
// spacing and affine are compared.
//
// Tolerances:
//   voxels  |nnuc - nibabel| <= 2^-23 |nibabel|: nnuc rounds once to float32 what nibabel's
//           get_fdata computes in float64 (slope * raw + inter), so one float32 rounding apart;
//   spacing exact: both take the stored pixdim (absolute) in the stored precision;
//   affine  |nnuc - nibabel| <= 1e-9 mm per entry (same precedence, same stored values; the
//           quaternion path differs only in floating-point evaluation order).
// Outside CI (CI != "true") the test skips when nibabel or the data packages are missing; in CI
// a missing package is a failure.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "data/nifti/nifti_io.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;

constexpr double kValueRelativeTolerance = 1.0 / (1 << 23);
constexpr double kAffineTolerance = 1e-9;
const char* const kPython = "/usr/bin/python3";

std::string script_path() { return (fs::path(__FILE__).parent_path() / "nibabel_conformance.py").string(); }

// Runs a command and returns its standard output and exit status.
std::pair<std::string, int> run(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {"", -1};
  char buffer[4096];
  std::size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, got);
  const int status = ::pclose(pipe);
  return {output, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Worst {
  double value_relative = 0;
  double affine = 0;
  std::string value_file, affine_file;
};

TEST(NiftiConformance, MatchesNibabelOnEveryNiftiFileDebianShips) {
  const bool in_ci = nnuc::testing::in_ci();
  const bool have_python = ::access(kPython, X_OK) == 0;
  if (!have_python) {
    if (in_ci) FAIL() << kPython << " is missing (CI installs python3-nibabel)";
    GTEST_SKIP() << kPython << " is missing";
  }
  const auto [listing, status] = run(std::string(kPython) + " " + quoted(script_path()) + " --list 2>/dev/null");
  std::map<std::string, std::vector<std::string>> files;  // package -> files
  std::vector<std::string> missing;
  auto parse = [&](const std::string& text) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      const std::size_t tab = line.find('\t');
      if (tab == std::string::npos) continue;
      const std::string key = line.substr(0, tab), value = line.substr(tab + 1);
      if (key == "missing") {
        missing.push_back(value);
      } else {
        files[key].push_back(value);
      }
    }
  };
  parse(listing);
  if (status != 0 || !missing.empty()) {
    std::string names;
    for (const std::string& name : missing) names += " " + name;
    if (in_ci) FAIL() << "Debian packages missing in CI:" << names << " (listing exit status " << status << ")";
    if (status != 0) GTEST_SKIP() << "nibabel is not importable by " << kPython << ":" << names;
    std::printf("[ skipped  ] not installed:%s\n", names.c_str());
  }
  for (const char* package : {"python3-nibabel", "python3-dipy", "mricron-data"}) {
    if (in_ci) {
      EXPECT_FALSE(files[package].empty()) << package << " ships no NIfTI file here";
    }
  }

  const fs::path scratch = fs::temp_directory_path() / ("nnuc_nibabel_" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  // Files nibabel writes itself reach the paths Debian's files do not (qform only, no codes, ...).
  const auto [zoo, zoo_status] =
      run(std::string(kPython) + " " + quoted(script_path()) + " --zoo " + quoted((scratch / "zoo").string()));
  ASSERT_EQ(zoo_status, 0) << "nibabel could not write its files";
  parse(zoo);
  const std::string reference = (scratch / "reference.f64").string();
  Worst worst;
  int compared = 0;
  std::map<std::string, int> per_package;
  for (const auto& [package, paths] : files) {
    for (const std::string& path : paths) {
      SCOPED_TRACE(path);
      const auto [json_text, dump_status] =
          run(std::string(kPython) + " " + quoted(script_path()) + " --dump " + quoted(path) + " " + quoted(reference));
      ASSERT_EQ(dump_status, 0) << "nibabel could not read the file";
      const nlohmann::json expected = nlohmann::json::parse(json_text);
      const nnuc::data::NiftiImage image = nnuc::data::read_nifti(path);

      // Shape: nibabel (i, j, k, t, ...) vs nnuc (T, a0, a1, a2) = (t..., k, j, i).
      const std::vector<std::int64_t> shape = expected["shape"].get<std::vector<std::int64_t>>();
      std::int64_t volumes = 1, count = 1;
      for (std::size_t axis = 0; axis < shape.size(); ++axis) {
        count *= shape[axis];
        if (axis >= 3) volumes *= shape[axis];
      }
      auto axis_size = [&](std::size_t axis) { return axis < shape.size() ? shape[axis] : std::int64_t{1}; };
      EXPECT_EQ(image.voxels.shape(), (nnuc::Shape{volumes, axis_size(2), axis_size(1), axis_size(0)}));
      ASSERT_EQ(image.voxels.numel(), count);

      // Voxels, streamed from nibabel's float64 dump.
      std::ifstream in(reference, std::ios::binary);
      const float* ours = image.voxels.data<float>();
      std::vector<double> chunk(1 << 20);
      std::int64_t done = 0, mismatches = 0;
      while (done < count) {
        const std::int64_t take = std::min<std::int64_t>(count - done, static_cast<std::int64_t>(chunk.size()));
        in.read(reinterpret_cast<char*>(chunk.data()), take * static_cast<std::int64_t>(sizeof(double)));
        ASSERT_TRUE(static_cast<bool>(in)) << "short nibabel dump";
        for (std::int64_t index = 0; index < take; ++index) {
          const double theirs = chunk[static_cast<std::size_t>(index)];
          const double mine = ours[done + index];
          if (std::isnan(theirs) && std::isnan(mine)) continue;
          const double difference = std::fabs(mine - theirs);
          const double relative = theirs == 0 ? difference : difference / std::fabs(theirs);
          if (relative > worst.value_relative) worst.value_relative = relative, worst.value_file = path;
          if (!(difference <= kValueRelativeTolerance * std::fabs(theirs)) && mismatches++ < 3) {
            ADD_FAILURE() << "voxel " << done + index << ": nnuc " << mine << ", nibabel " << theirs;
          }
        }
        done += take;
      }

      // Spacing: nibabel's zooms of i, j, k (absolute), reversed into array-axis order.
      const std::vector<double> zooms = expected["zooms"].get<std::vector<double>>();
      for (std::size_t axis = 0; axis < 3 && axis < zooms.size(); ++axis)
        EXPECT_EQ(image.geometry.spacing[2 - axis], std::fabs(zooms[axis])) << "zoom " << axis;

      const auto affine = expected["affine"].get<std::vector<std::vector<double>>>();
      for (int row = 0; row < 3; ++row)
        for (int col = 0; col < 4; ++col) {
          const double difference = std::fabs(image.geometry.affine[row][col] - affine[row][col]);
          if (difference > worst.affine) worst.affine = difference, worst.affine_file = path;
          EXPECT_LE(difference, kAffineTolerance)
              << "affine[" << row << "][" << col << "] nnuc " << image.geometry.affine[row][col] << ", nibabel "
              << affine[row][col];
        }
      EXPECT_EQ(image.geometry.nifti_version, expected["version"].get<int>());
      ++compared;
      ++per_package[package];
    }
  }
  fs::remove_all(scratch);
  std::string counts;
  for (const auto& [package, n] : per_package) counts += " " + package + "=" + std::to_string(n);
  std::printf(
      "[ nibabel  ] %d files compared (%s); worst voxel relative difference %.3g (%s); worst affine "
      "difference %.3g mm (%s)\n",
      compared, counts.c_str(), worst.value_relative, worst.value_file.c_str(), worst.affine,
      worst.affine_file.c_str());
  if (compared == 0) {
    if (in_ci) FAIL() << "no NIfTI file found to compare in CI (the Debian packages ship dozens)";
    GTEST_SKIP() << "no NIfTI file found to compare";
  }
}

}  // namespace
