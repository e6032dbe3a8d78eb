// Shapes of the synthetic generator and how they are painted into a multi-channel volume.
//
// Coordinates are physical millimetres in array order (a0, a1, a2): voxel (k, j, i) sits at
// (k·s0, j·s1, i·s2). Every shape paints its partial-volume fraction f ∈ [0, 1] per voxel with an
// analytic soft edge: f = clamp(0.5 − d / w, 0, 1), where d is the (first-order) signed distance
// from the voxel centre to the surface and w = Σ_i |n_i|·s_i is the voxel's width along the surface
// normal n. That is the exact box-filtered occupancy of a plane through a voxel whose normal is an
// axis, and a close approximation elsewhere; thick slices therefore blur edges along that axis only,
// as in real anisotropic scans.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace nnuc::data::synth {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<Vec3, 3>;  // rows

Mat3 identity3();
// Rotation by the given angles (radians) about a0, then a1, then a2.
Mat3 rotation3(double angle0, double angle1, double angle2);

// One cosine lobe of a shape perturbation: radius factor 1 + amplitude·cos(frequency·u + phase), where
// u is the unit direction from the centre in the ellipsoid's normalized frame.
struct Wave {
  Vec3 frequency{};
  double amplitude = 0;
  double phase = 0;
};

struct Ellipsoid {
  Vec3 center{};            // mm
  Vec3 radii{1, 1, 1};      // mm, along the ellipsoid's own axes
  Mat3 axes = identity3();  // rows: the ellipsoid's axes as unit vectors in array coordinates
  std::vector<Wave> waves;  // optional smooth deformation (keep Σ|amplitude| < 0.5)
};

// A capsule chain: points joined by segments, radius interpolated linearly along each segment.
struct Tube {
  std::vector<Vec3> centerline;  // mm, at least 2 points
  std::vector<double> radii;     // mm, one per point
};

// How a shape is painted: intensity per channel, label where f ≥ 0.5 (−1 leaves labels unchanged; 0
// erases, for unlabelled anatomy that lies on top). A tube may switch label along its length:
// positions past `split_at` (fraction of the centerline length, 0..1) get `label_after_split`.
struct Appearance {
  std::vector<double> intensity;
  int label = -1;
  double split_at = 2.0;
  int label_after_split = -1;
};

// A multi-channel volume being painted: channels (a0·a1·a2 floats each) and a label map.
struct Canvas {
  std::array<std::int64_t, 3> shape{};
  Vec3 spacing{1, 1, 1};
  std::vector<std::vector<float>> channels;
  std::vector<std::int16_t> labels;

  Canvas(std::array<std::int64_t, 3> shape_, Vec3 spacing_, const std::vector<double>& background);
  std::int64_t voxels() const { return shape[0] * shape[1] * shape[2]; }
  Vec3 extent() const;  // mm covered by the grid: shape·spacing
  Vec3 center() const;  // mm position of the grid centre
};

// Paints the shape over the canvas: channel c becomes (1 − f)·old + f·intensity[c].
void paint_ellipsoid(Canvas& canvas, const Ellipsoid& ellipsoid, const Appearance& appearance);
void paint_tube(Canvas& canvas, const Tube& tube, const Appearance& appearance);

// Number of voxels holding each label value 0..max_label (values outside are not counted).
std::vector<std::int64_t> count_labels(const Canvas& canvas, int max_label);

}  // namespace nnuc::data::synth
