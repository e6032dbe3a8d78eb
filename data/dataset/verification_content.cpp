// Content half of the dataset verifier: reads one case's files and checks values and geometry.
#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <sstream>

#include "data/dataset/verification_internal.h"
#include "data/nifti/nifti_io.h"

namespace nnuc::data::detail {

bool all_close(const double* a, const double* b, int count) {
  for (int i = 0; i < count; ++i) {
    if (!(std::fabs(a[i] - b[i]) <= 1e-8 + 1e-5 * std::fabs(b[i]))) return false;
  }
  return true;
}

namespace {

struct FileGeometry {
  std::string path;
  std::array<std::int64_t, 3> shape{};
  NiftiGeometry geometry;
};

template <typename T, std::size_t N>
std::string format_array(const std::array<T, N>& values) {
  std::ostringstream out;
  out.precision(10);
  out << "(";
  for (std::size_t i = 0; i < N; ++i) out << (i ? ", " : "") << values[i];
  out << ")";
  return out.str();
}

std::string format_direction(const std::array<std::array<double, 3>, 3>& direction) {
  std::string text = "(";
  for (std::size_t r = 0; r < 3; ++r) text += (r ? ", " : "") + format_array(direction[r]);
  return text + ")";
}

// "(a0, a1, a2) = (k, j, i)" position of a flat index into (T, a0, a1, a2) voxels.
std::string voxel_position(std::int64_t flat, const Tensor& voxels) {
  const std::int64_t n2 = voxels.dim(3), n1 = voxels.dim(2), n0 = voxels.dim(1);
  const std::int64_t i = flat % n2, j = (flat / n2) % n1, k = (flat / (n2 * n1)) % n0, t = flat / (n2 * n1 * n0);
  std::string text = "(a0, a1, a2) = (" + std::to_string(k) + ", " + std::to_string(j) + ", " + std::to_string(i) + ")";
  if (voxels.dim(0) > 1) text += " of volume " + std::to_string(t);
  return text;
}

std::string format_value(double value) {
  std::ostringstream out;
  out.precision(9);
  out << value;
  return out.str();
}

class CaseChecker {
 public:
  explicit CaseChecker(const CaseFiles& files) : files_(files) {}

  void add(Severity severity, const std::string& code, const std::string& path, const std::string& message) {
    problems_.push_back(Problem{severity, code, path, files_.id, "", message});
  }

  // Compares a file's geometry with the case's reference (channel 0, or the first readable one).
  void compare(const FileGeometry& other, const char* what) {
    if (!reference_) {
      reference_ = other;
      return;
    }
    const FileGeometry& ref = *reference_;
    const std::string against = " vs " + ref.path;
    if (other.shape != ref.shape) {
      add(Severity::error, "shape_mismatch", other.path,
          std::string(what) + " shape " + format_array(other.shape) + " differs from " + format_array(ref.shape) +
              against);
    }
    if (!all_close(other.geometry.spacing.data(), ref.geometry.spacing.data(), 3)) {
      add(Severity::error, "spacing_mismatch", other.path,
          std::string(what) + " spacing " + format_array(other.geometry.spacing) + " differs from " +
              format_array(ref.geometry.spacing) + against);
    }
    if (!all_close(other.geometry.origin.data(), ref.geometry.origin.data(), 3)) {
      add(Severity::warning, "origin_mismatch", other.path,
          std::string(what) + " origin " + format_array(other.geometry.origin) + " differs from " +
              format_array(ref.geometry.origin) + against);
    }
    if (!all_close(other.geometry.direction[0].data(), ref.geometry.direction[0].data(), 3) ||
        !all_close(other.geometry.direction[1].data(), ref.geometry.direction[1].data(), 3) ||
        !all_close(other.geometry.direction[2].data(), ref.geometry.direction[2].data(), 3)) {
      add(Severity::warning, "direction_mismatch", other.path,
          std::string(what) + " direction " + format_direction(other.geometry.direction) + " differs from " +
              format_direction(ref.geometry.direction) + against);
    }
  }

  void report_warnings(const std::string& path, const std::vector<std::string>& warnings) {
    std::set<std::string> seen;
    for (const std::string& warning : warnings) {
      if (seen.insert(warning).second) add(Severity::warning, "nifti_warning", path, warning);
    }
  }

  void check_image(int channel, const std::string& path, const NiftiReadOptions& options) {
    NiftiImage image;
    try {
      image = read_nifti(path, options);
    } catch (const std::exception& e) {
      add(Severity::error, "unreadable_file", path,
          std::string("cannot read channel ") + std::to_string(channel) + ": " + e.what());
      return;
    }
    report_warnings(path, image.warnings);
    const Tensor& voxels = image.voxels;  // (T, a0, a1, a2)
    if (voxels.dim(0) != 1) {
      add(Severity::error, "image_not_3d", path,
          "image holds " + std::to_string(voxels.dim(0)) +
              " volumes: expected one 3-D volume per channel file "
              "(split multi-channel files into _0000, _0001, ...; `nnuc convert-msd` does this for MSD tasks)");
    }
    if (image.non_finite_voxels > 0) {
      const float* values = voxels.data<float>();
      std::int64_t nan_count = 0, inf_count = 0, first_nan = -1, first_inf = -1;
      for (std::int64_t v = 0; v < voxels.numel(); ++v) {
        if (std::isnan(values[v])) {
          if (nan_count++ == 0) first_nan = v;
        } else if (std::isinf(values[v])) {
          if (inf_count++ == 0) first_inf = v;
        }
      }
      if (nan_count > 0) {
        add(Severity::error, "image_nan", path,
            std::to_string(nan_count) + " NaN voxel(s), first at " + voxel_position(first_nan, voxels) +
                ": expected finite values");
      }
      if (inf_count > 0) {
        add(Severity::error, "image_inf", path,
            std::to_string(inf_count) + " infinite voxel(s), first at " + voxel_position(first_inf, voxels) +
                ": expected finite values");
      }
    }
    compare(FileGeometry{path, {voxels.dim(1), voxels.dim(2), voxels.dim(3)}, image.geometry},
            ("channel " + std::to_string(channel)).c_str());
  }

  void check_label(const std::string& path, const std::optional<std::vector<int>>& allowed,
                   const NiftiReadOptions& options) {
    NiftiImage image;
    try {
      image = read_nifti(path, options);
    } catch (const std::exception& e) {
      add(Severity::error, "unreadable_file", path, std::string("cannot read label: ") + e.what());
      return;
    }
    report_warnings(path, image.warnings);
    const Tensor& voxels = image.voxels;
    if (voxels.dim(0) != 1) {
      add(Severity::error, "label_not_3d", path,
          "label holds " + std::to_string(voxels.dim(0)) + " volumes: expected one 3-D volume");
    }
    const float* values = voxels.data<float>();
    std::int64_t nan_count = 0, inf_count = 0, fraction_count = 0, first_nan = -1, first_inf = -1, first_fraction = -1;
    std::vector<char> seen(65536, 0);
    std::set<double> outside;  // integer values outside 0..65535 (first few)
    for (std::int64_t v = 0; v < voxels.numel(); ++v) {
      const float value = values[v];
      if (value >= 0.0f && value <= 65535.0f && value == std::floor(value)) {
        seen[static_cast<std::size_t>(value)] = 1;
      } else if (std::isnan(value)) {
        if (nan_count++ == 0) first_nan = v;
      } else if (std::isinf(value)) {
        if (inf_count++ == 0) first_inf = v;
      } else if (value != std::floor(value)) {
        if (fraction_count++ == 0) first_fraction = v;
      } else if (outside.size() < 16) {
        outside.insert(value);
      }
    }
    if (nan_count > 0) {
      add(Severity::error, "label_nan", path,
          std::to_string(nan_count) + " NaN voxel(s), first at " + voxel_position(first_nan, voxels) +
              ": expected integer labels");
    }
    if (inf_count > 0) {
      add(Severity::error, "label_inf", path,
          std::to_string(inf_count) + " infinite voxel(s), first at " + voxel_position(first_inf, voxels) +
              ": expected integer labels");
    }
    if (fraction_count > 0) {
      add(Severity::error, "label_not_integer", path,
          std::to_string(fraction_count) + " voxel(s) hold non-integer values, first " +
              format_value(values[first_fraction]) + " at " + voxel_position(first_fraction, voxels) +
              ": expected integer labels");
    }
    std::vector<double> found;
    for (std::size_t v = 0; v < seen.size(); ++v) {
      if (seen[v]) found.push_back(static_cast<double>(v));
    }
    found.insert(found.end(), outside.begin(), outside.end());
    std::sort(found.begin(), found.end());
    if (!outside.empty()) {
      add(Severity::error, "label_value_out_of_range", path,
          "label values " + list(std::vector<double>(outside.begin(), outside.end())) + " are outside 0..65535");
    }
    if (allowed) {
      std::vector<double> unexpected;
      for (double value : found) {
        if (std::none_of(allowed->begin(), allowed->end(),
                         [value](int a) { return static_cast<double>(a) == value; })) {
          unexpected.push_back(value);
        }
      }
      if (!unexpected.empty()) {
        std::vector<double> expected(allowed->begin(), allowed->end());
        add(Severity::error, "label_unexpected_values", path,
            "unexpected label values " + list(unexpected) + " (found " + list(found) + "; dataset.json declares " +
                list(expected) + ")");
      }
    }
    if (found.size() == 1 && found[0] == 0.0 && nan_count + inf_count + fraction_count == 0) {
      add(Severity::warning, "label_all_background", path,
          "the label map holds only background (0): no foreground in this case");
    }
    const bool clean =
        nan_count + inf_count + fraction_count == 0 && outside.empty() && (found.empty() || found.back() <= 32767);
    if (clean && voxels.dim(0) == 1) {
      try {
        (void)read_nifti_label(path, options);
      } catch (const std::exception& e) {
        add(Severity::error, "label_rejected_by_reader", path,
            std::string("the label reader refuses this file: ") + e.what());
      }
    }
    compare(FileGeometry{path, {voxels.dim(1), voxels.dim(2), voxels.dim(3)}, image.geometry}, "label");
  }

  std::vector<Problem> take() { return std::move(problems_); }

 private:
  static std::string list(const std::vector<double>& values) {
    std::string text = "[";
    for (std::size_t i = 0; i < values.size() && i < 24; ++i) text += (i ? ", " : "") + format_value(values[i]);
    if (values.size() > 24) text += ", ... (" + std::to_string(values.size()) + " values)";
    return text + "]";
  }

  const CaseFiles& files_;
  std::vector<Problem> problems_;
  std::optional<FileGeometry> reference_;
};

}  // namespace

std::vector<Problem> check_case_content(const CaseFiles& files, const std::optional<std::vector<int>>& allowed_labels,
                                        const NiftiReadOptions& read_options) {
  CaseChecker checker(files);
  for (std::size_t c = 0; c < files.images.size(); ++c) {
    if (!files.images[c].empty()) checker.check_image(static_cast<int>(c), files.images[c], read_options);
  }
  if (!files.label.empty()) checker.check_label(files.label, allowed_labels, read_options);
  return checker.take();
}

}  // namespace nnuc::data::detail
