#include "data/synth/structures.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/core/error.h"

namespace nnuc::data::synth {

Mat3 identity3() { return Mat3{Vec3{1, 0, 0}, Vec3{0, 1, 0}, Vec3{0, 0, 1}}; }

namespace {

Mat3 multiply(const Mat3& a, const Mat3& b) {
  Mat3 out{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      double sum = 0;
      for (int k = 0; k < 3; ++k) sum += a[r][k] * b[k][c];
      out[r][c] = sum;
    }
  }
  return out;
}

double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// Box-filter width of a voxel along unit normal n.
double width_along(const Vec3& n, const Vec3& spacing) {
  return std::fabs(n[0]) * spacing[0] + std::fabs(n[1]) * spacing[1] + std::fabs(n[2]) * spacing[2];
}

double soft_edge(double signed_distance, double width) { return std::clamp(0.5 - signed_distance / width, 0.0, 1.0); }

struct Box {
  std::array<std::int64_t, 3> begin{}, end{};
  bool empty() const { return begin[0] >= end[0] || begin[1] >= end[1] || begin[2] >= end[2]; }
};

// Voxel index range covering [low, high] mm per axis, clipped to the grid.
Box box_for(const Canvas& canvas, const Vec3& low, const Vec3& high) {
  Box box;
  for (int a = 0; a < 3; ++a) {
    const double first = std::floor(low[a] / canvas.spacing[a]) - 1;
    const double last = std::ceil(high[a] / canvas.spacing[a]) + 2;
    box.begin[a] = static_cast<std::int64_t>(std::clamp(first, 0.0, static_cast<double>(canvas.shape[a])));
    box.end[a] = static_cast<std::int64_t>(std::clamp(last, 0.0, static_cast<double>(canvas.shape[a])));
  }
  return box;
}

void blend(Canvas& canvas, std::int64_t index, double fraction, double parameter, const Appearance& appearance) {
  if (fraction <= 0) return;
  for (std::size_t c = 0; c < canvas.channels.size(); ++c) {
    float& value = canvas.channels[c][static_cast<std::size_t>(index)];
    value = static_cast<float>((1.0 - fraction) * value + fraction * appearance.intensity[c]);
  }
  if (fraction >= 0.5) {
    const int label = parameter > appearance.split_at ? appearance.label_after_split : appearance.label;
    if (label >= 0) canvas.labels[static_cast<std::size_t>(index)] = static_cast<std::int16_t>(label);
  }
}

void check_appearance(const Canvas& canvas, const Appearance& appearance) {
  NNUC_CHECK(appearance.intensity.size() == canvas.channels.size(), "appearance has ", appearance.intensity.size(),
             " intensities for ", canvas.channels.size(), " channels");
}

}  // namespace

Mat3 rotation3(double angle0, double angle1, double angle2) {
  const double c0 = std::cos(angle0), s0 = std::sin(angle0);
  const double c1 = std::cos(angle1), s1 = std::sin(angle1);
  const double c2 = std::cos(angle2), s2 = std::sin(angle2);
  const Mat3 r0{Vec3{1, 0, 0}, Vec3{0, c0, -s0}, Vec3{0, s0, c0}};
  const Mat3 r1{Vec3{c1, 0, s1}, Vec3{0, 1, 0}, Vec3{-s1, 0, c1}};
  const Mat3 r2{Vec3{c2, -s2, 0}, Vec3{s2, c2, 0}, Vec3{0, 0, 1}};
  return multiply(r2, multiply(r1, r0));
}

Canvas::Canvas(std::array<std::int64_t, 3> shape_, Vec3 spacing_, const std::vector<double>& background)
    : shape(shape_), spacing(spacing_) {
  NNUC_CHECK(shape[0] > 0 && shape[1] > 0 && shape[2] > 0, "canvas shape (", shape[0], ", ", shape[1], ", ", shape[2],
             "): expected positive sizes");
  NNUC_CHECK(!background.empty(), "canvas needs at least one channel");
  for (double value : background) channels.emplace_back(static_cast<std::size_t>(voxels()), static_cast<float>(value));
  labels.assign(static_cast<std::size_t>(voxels()), 0);
}

Vec3 Canvas::extent() const { return Vec3{shape[0] * spacing[0], shape[1] * spacing[1], shape[2] * spacing[2]}; }

Vec3 Canvas::center() const {
  return Vec3{(shape[0] - 1) * spacing[0] / 2, (shape[1] - 1) * spacing[1] / 2, (shape[2] - 1) * spacing[2] / 2};
}

void paint_ellipsoid(Canvas& canvas, const Ellipsoid& e, const Appearance& appearance) {
  check_appearance(canvas, appearance);
  NNUC_CHECK(e.radii[0] > 0 && e.radii[1] > 0 && e.radii[2] > 0, "ellipsoid radii must be positive");
  double max_factor = 1;
  for (const Wave& wave : e.waves) max_factor += std::fabs(wave.amplitude);
  Vec3 low, high;
  for (int a = 0; a < 3; ++a) {
    double half = 0;
    for (int r = 0; r < 3; ++r) half += (e.axes[r][a] * e.radii[r]) * (e.axes[r][a] * e.radii[r]);
    half = std::sqrt(half) * max_factor + canvas.spacing[a];
    low[a] = e.center[a] - half;
    high[a] = e.center[a] + half;
  }
  const Box box = box_for(canvas, low, high);
  if (box.empty()) return;
  for (std::int64_t k = box.begin[0]; k < box.end[0]; ++k) {
    for (std::int64_t j = box.begin[1]; j < box.end[1]; ++j) {
      for (std::int64_t i = box.begin[2]; i < box.end[2]; ++i) {
        const Vec3 offset{k * canvas.spacing[0] - e.center[0], j * canvas.spacing[1] - e.center[1],
                          i * canvas.spacing[2] - e.center[2]};
        Vec3 u;  // normalized ellipsoid-frame position
        for (int r = 0; r < 3; ++r) u[r] = dot(e.axes[r], offset) / e.radii[r];
        const double q = std::sqrt(dot(u, u));
        const std::int64_t index = (k * canvas.shape[1] + j) * canvas.shape[2] + i;
        if (q < 1e-9) {
          blend(canvas, index, 1.0, 0.0, appearance);
          continue;
        }
        double factor = 1;
        for (const Wave& wave : e.waves) factor += wave.amplitude * std::cos(dot(wave.frequency, u) / q + wave.phase);
        // ∇q in array coordinates = axesᵀ · (u / (radii·q)).
        Vec3 gradient{0, 0, 0};
        for (int r = 0; r < 3; ++r) {
          const double g = u[r] / (e.radii[r] * q);
          for (int a = 0; a < 3; ++a) gradient[a] += e.axes[r][a] * g;
        }
        const double norm = std::sqrt(dot(gradient, gradient));
        const Vec3 normal{gradient[0] / norm, gradient[1] / norm, gradient[2] / norm};
        const double distance = (q - factor) / norm;
        blend(canvas, index, soft_edge(distance, width_along(normal, canvas.spacing)), 0.0, appearance);
      }
    }
  }
}

void paint_tube(Canvas& canvas, const Tube& tube, const Appearance& appearance) {
  check_appearance(canvas, appearance);
  const std::size_t points = tube.centerline.size();
  NNUC_CHECK(points >= 2 && tube.radii.size() == points,
             "tube needs >= 2 centerline points and one radius per point (got ", points, " points, ", tube.radii.size(),
             " radii)");
  std::vector<double> cumulative(points, 0.0);
  for (std::size_t p = 1; p < points; ++p) {
    Vec3 d;
    for (int a = 0; a < 3; ++a) d[a] = tube.centerline[p][a] - tube.centerline[p - 1][a];
    cumulative[p] = cumulative[p - 1] + std::sqrt(dot(d, d));
  }
  const double total_length = std::max(cumulative.back(), 1e-12);
  const double max_radius = *std::max_element(tube.radii.begin(), tube.radii.end());
  Vec3 low, high;
  for (int a = 0; a < 3; ++a) {
    low[a] = std::numeric_limits<double>::infinity();
    high[a] = -low[a];
    for (const Vec3& point : tube.centerline) {
      low[a] = std::min(low[a], point[a] - max_radius - canvas.spacing[a]);
      high[a] = std::max(high[a], point[a] + max_radius + canvas.spacing[a]);
    }
  }
  const Box box = box_for(canvas, low, high);
  if (box.empty()) return;
  for (std::int64_t k = box.begin[0]; k < box.end[0]; ++k) {
    for (std::int64_t j = box.begin[1]; j < box.end[1]; ++j) {
      for (std::int64_t i = box.begin[2]; i < box.end[2]; ++i) {
        const Vec3 position{k * canvas.spacing[0], j * canvas.spacing[1], i * canvas.spacing[2]};
        double best = std::numeric_limits<double>::infinity();
        double best_parameter = 0;
        Vec3 best_normal{1, 0, 0};
        for (std::size_t p = 0; p + 1 < points; ++p) {
          const Vec3& a = tube.centerline[p];
          const Vec3& b = tube.centerline[p + 1];
          const Vec3 ab{b[0] - a[0], b[1] - a[1], b[2] - a[2]};
          const Vec3 ap{position[0] - a[0], position[1] - a[1], position[2] - a[2]};
          const double length2 = dot(ab, ab);
          const double t = length2 > 0 ? std::clamp(dot(ap, ab) / length2, 0.0, 1.0) : 0.0;
          const Vec3 away{ap[0] - t * ab[0], ap[1] - t * ab[1], ap[2] - t * ab[2]};
          const double distance = std::sqrt(dot(away, away));
          const double radius = tube.radii[p] + t * (tube.radii[p + 1] - tube.radii[p]);
          if (distance - radius < best) {
            best = distance - radius;
            best_parameter = (cumulative[p] + t * (cumulative[p + 1] - cumulative[p])) / total_length;
            if (distance > 1e-9)
              best_normal = Vec3{away[0] / distance, away[1] / distance, away[2] / distance};
            else
              best_normal = Vec3{1, 0, 0};
          }
        }
        const std::int64_t index = (k * canvas.shape[1] + j) * canvas.shape[2] + i;
        blend(canvas, index, soft_edge(best, width_along(best_normal, canvas.spacing)), best_parameter, appearance);
      }
    }
  }
}

std::vector<std::int64_t> count_labels(const Canvas& canvas, int max_label) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(max_label) + 1, 0);
  for (std::int16_t label : canvas.labels) {
    if (label >= 0 && label <= max_label) ++counts[static_cast<std::size_t>(label)];
  }
  return counts;
}

}  // namespace nnuc::data::synth
