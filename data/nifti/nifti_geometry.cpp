// NIfTI geometry: rules R8 (pixdim) and R9 (qform/sform), the transform precedence documented in
// nifti_io.h, and the derived spacing / origin / direction.
#include <nifti2_io.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>

#include "data/nifti/nifti_internal.h"

namespace nnuc::data {

namespace {

using Matrix34 = std::array<std::array<double, 4>, 3>;

double column_norm(const Matrix34& m, int col) {
  return std::sqrt(m[0][col] * m[0][col] + m[1][col] * m[1][col] + m[2][col] * m[2][col]);
}

double determinant3(const Matrix34& m) {
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
         m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

bool same_value(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

}  // namespace

const char* nifti_transform_source_name(NiftiTransformSource source) {
  switch (source) {
    case NiftiTransformSource::sform: return "sform";
    case NiftiTransformSource::qform: return "qform";
    case NiftiTransformSource::pixdim: return "pixdim";
  }
  return "unknown";
}

std::array<std::int64_t, 3> NiftiGeometry::shape() const {
  const std::int64_t ndim = dim[0];
  return {ndim >= 3 ? dim[3] : 1, ndim >= 2 ? dim[2] : 1, dim[1]};
}

bool same_header_geometry(const NiftiGeometry& a, const NiftiGeometry& b) {
  if (a.shape() != b.shape() || std::min<std::int64_t>(a.dim[0], 3) != std::min<std::int64_t>(b.dim[0], 3))
    return false;
  for (int index = 0; index < 4; ++index)
    if (!same_value(a.pixdim[index], b.pixdim[index])) return false;
  if (a.qform_code != b.qform_code || a.sform_code != b.sform_code || a.xyzt_units != b.xyzt_units) return false;
  const double quaternion_a[6] = {a.quatern_b, a.quatern_c, a.quatern_d, a.qoffset_x, a.qoffset_y, a.qoffset_z};
  const double quaternion_b[6] = {b.quatern_b, b.quatern_c, b.quatern_d, b.qoffset_x, b.qoffset_y, b.qoffset_z};
  for (int index = 0; index < 6; ++index)
    if (!same_value(quaternion_a[index], quaternion_b[index])) return false;
  for (int row = 0; row < 3; ++row)
    for (int col = 0; col < 4; ++col)
      if (!same_value(a.srow[row][col], b.srow[row][col])) return false;
  return true;
}

namespace nifti_detail {

void check_and_derive_geometry(NiftiHeaderInfo& info, const std::string& name, const NiftiReadOptions& options) {
  NiftiGeometry& g = info.geometry;
  const int ndim = info.ndim;
  const bool nifti1 = info.version == 1;
  const std::size_t pixdim_at = nifti1 ? offsetof(nifti_1_header, pixdim) : offsetof(nifti_2_header, pixdim);
  const std::size_t value_size = nifti1 ? 4 : 8;

  // R8: spacing of the axes the image has must be finite, non-zero and sane; a negative value is
  // made absolute with a warning (nibabel's fix) unless the caller asks for an error. Unused
  // spatial axes (2-D files) get nibabel's fix too: 0 or non-finite -> 1, negative -> absolute.
  double zoom[4] = {0, 1, 1, 1};
  for (int axis = 1; axis <= 3; ++axis) {
    double value = g.pixdim[axis];
    const std::size_t at = pixdim_at + axis * value_size;
    if (axis <= ndim) {
      if (!std::isfinite(value) || value == 0.0)
        NIFTI_FAIL(name, "NIFTI_PIXDIM", "pixdim[", axis, "] (byte ", at, ") is ", value,
                   "; expected a finite spacing with |pixdim| in [", kMinSpacing, ", ", kMaxSpacing, "]");
      if (value < 0) {
        if (options.reject_negative_pixdim)
          NIFTI_FAIL(name, "NIFTI_PIXDIM", "pixdim[", axis, "] (byte ", at, ") is ", value,
                     "; expected a positive spacing (reject_negative_pixdim is set)");
        info.warnings.push_back(
            detail::concat("NIFTI_W_PIXDIM_NEGATIVE: pixdim[", axis, "] is ", value, "; using its absolute value"));
        value = -value;
      }
      if (value < kMinSpacing || value > kMaxSpacing)
        NIFTI_FAIL(name, "NIFTI_PIXDIM", "pixdim[", axis, "] (byte ", at, ") is ", g.pixdim[axis],
                   "; expected |pixdim| in [", kMinSpacing, ", ", kMaxSpacing, "]");
    } else {
      value = std::isfinite(value) && value != 0.0 ? std::fabs(value) : 1.0;
    }
    zoom[axis] = value;
  }
  g.spacing = {zoom[3], zoom[2], zoom[1]};

  Matrix34 qform{}, sform{}, base{};
  // R9: qform from the quaternion (nifticlib's nifti_quatern_to_dmat44), when declared.
  if (g.qform_code > 0) {
    double qfac = g.pixdim[0];
    if (qfac != 1.0 && qfac != -1.0) {
      info.warnings.push_back(detail::concat("NIFTI_W_QFAC: qfac (pixdim[0]) is ", qfac, "; using 1"));
      qfac = 1.0;
    }
    const double values[6] = {g.quatern_b, g.quatern_c, g.quatern_d, g.qoffset_x, g.qoffset_y, g.qoffset_z};
    for (double value : values)
      if (!std::isfinite(value))
        NIFTI_FAIL(name, "NIFTI_QUATERN", "quaternion (b, c, d) = (", g.quatern_b, ", ", g.quatern_c, ", ", g.quatern_d,
                   ") with offset (", g.qoffset_x, ", ", g.qoffset_y, ", ", g.qoffset_z,
                   ") has a non-finite value; expected finite values with qform_code ", g.qform_code);
    const long double b = g.quatern_b, c = g.quatern_c, d = g.quatern_d;
    const long double norm2 = b * b + c * c + d * d;
    // nibabel's threshold: 3 epsilon of the stored precision.
    const long double tolerance = 3.0L * (nifti1 ? FLT_EPSILON : DBL_EPSILON);
    if (1.0L - norm2 < -tolerance)
      NIFTI_FAIL(name, "NIFTI_QUATERN", "quaternion (b, c, d) = (", g.quatern_b, ", ", g.quatern_c, ", ", g.quatern_d,
                 ") has b^2+c^2+d^2 = ", static_cast<double>(norm2), "; expected <= 1");
    const nifti_dmat44 m = nifti_quatern_to_dmat44(g.quatern_b, g.quatern_c, g.quatern_d, g.qoffset_x, g.qoffset_y,
                                                   g.qoffset_z, zoom[1], zoom[2], zoom[3], qfac);
    for (int row = 0; row < 3; ++row)
      for (int col = 0; col < 4; ++col) qform[row][col] = m.m[row][col];
  }
  // R9: sform finite and non-singular, when declared.
  if (g.sform_code > 0) {
    for (int row = 0; row < 3; ++row)
      for (int col = 0; col < 4; ++col)
        if (!std::isfinite(g.srow[row][col]))
          NIFTI_FAIL(name, "NIFTI_SFORM", "srow_", "xyz"[row], "[", col, "] is ", g.srow[row][col],
                     "; expected finite values with sform_code ", g.sform_code);
    sform = g.srow;
    const double scale = column_norm(sform, 0) * column_norm(sform, 1) * column_norm(sform, 2);
    const double det = determinant3(sform);
    if (scale == 0.0 || !(std::fabs(det) > 1e-12 * scale))
      NIFTI_FAIL(name, "NIFTI_SFORM", "the 3x3 part of the sform (srow_x/y/z) is singular (determinant ", det,
                 "); expected an invertible matrix with sform_code ", g.sform_code);
  }
  // nibabel's fallback when neither code is set: diag(-dx, dy, dz), centred on the volume.
  {
    const double shape[3] = {static_cast<double>(g.dim[1]), ndim >= 2 ? static_cast<double>(g.dim[2]) : 1.0,
                             ndim >= 3 ? static_cast<double>(g.dim[3]) : 1.0};
    for (int axis = 0; axis < 3; ++axis) {
      const double z = axis < ndim ? zoom[axis + 1] : 1.0;
      const double signed_zoom = axis == 0 ? -z : z;
      base[axis][axis] = signed_zoom;
      base[axis][3] = -(shape[axis] - 1.0) / 2.0 * signed_zoom;
    }
  }

  if (g.sform_code > 0) {
    g.affine = sform;
    g.source = NiftiTransformSource::sform;
  } else if (g.qform_code > 0) {
    g.affine = qform;
    g.source = NiftiTransformSource::qform;
  } else {
    g.affine = base;
    g.source = NiftiTransformSource::pixdim;
    info.warnings.push_back(
        "NIFTI_W_NO_TRANSFORM: qform_code and sform_code are both 0; using pixdim only (nibabel's centred fallback)");
  }
  if (g.qform_code > 0 && g.sform_code > 0) {
    double worst = 0;
    for (int row = 0; row < 3; ++row)
      for (int col = 0; col < 4; ++col) worst = std::max(worst, std::fabs(qform[row][col] - sform[row][col]));
    if (worst > 1e-3)
      info.warnings.push_back(
          detail::concat("NIFTI_W_QFORM_SFORM_DIFFER: qform and sform differ by up to ", worst, "; using the sform"));
  }

  for (int col = 0; col < 3; ++col) {
    const double norm = column_norm(g.affine, col);
    for (int row = 0; row < 3; ++row) g.direction[row][col] = g.affine[row][col] / norm;
    if (g.source == NiftiTransformSource::sform && col < ndim && std::fabs(norm - zoom[col + 1]) > 1e-3 * norm)
      info.warnings.push_back(detail::concat("NIFTI_W_SFORM_PIXDIM: sform column ", col, " has length ", norm,
                                             " but pixdim[", col + 1, "] is ", zoom[col + 1],
                                             "; spacing follows pixdim"));
  }
  for (int row = 0; row < 3; ++row) g.origin[row] = g.affine[row][3];
  double worst_cosine = 0;
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b) {
      double cosine = 0;
      for (int row = 0; row < 3; ++row) cosine += g.direction[row][a] * g.direction[row][b];
      worst_cosine = std::max(worst_cosine, std::fabs(cosine));
    }
  if (worst_cosine > 1e-4)
    info.warnings.push_back(detail::concat("NIFTI_W_NON_ORTHONORMAL: the ", nifti_transform_source_name(g.source),
                                           " axes are not orthogonal (|cos| up to ", worst_cosine,
                                           "); accepted as nibabel does, ITK would refuse it"));
}

}  // namespace nifti_detail

NiftiGeometry make_nifti_geometry(const std::array<std::int64_t, 3>& shape, const std::array<double, 3>& spacing,
                                  const std::array<double, 3>& origin,
                                  const std::array<std::array<double, 3>, 3>& direction) {
  nifti_detail::quiet_nifticlib();
  for (int axis = 0; axis < 3; ++axis) {
    NNUC_CHECK(shape[axis] >= 1 && shape[axis] <= 32767, "make_nifti_geometry: shape[", axis, "] is ", shape[axis],
               "; expected 1..32767");
    NNUC_CHECK(std::isfinite(spacing[axis]) && spacing[axis] >= nifti_detail::kMinSpacing &&
                   spacing[axis] <= nifti_detail::kMaxSpacing,
               "make_nifti_geometry: spacing[", axis, "] is ", spacing[axis], "; expected a value in [",
               nifti_detail::kMinSpacing, ", ", nifti_detail::kMaxSpacing, "]");
    NNUC_CHECK(std::isfinite(origin[axis]), "make_nifti_geometry: origin[", axis, "] is ", origin[axis]);
  }
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      double dot = 0;
      for (int row = 0; row < 3; ++row) dot += direction[row][a] * direction[row][b];
      NNUC_CHECK(std::fabs(dot - (a == b ? 1.0 : 0.0)) < 1e-6,
                 "make_nifti_geometry: direction is not orthonormal (columns ", a, " and ", b, " give ", dot, ")");
    }
  // NIfTI-1 stores float32: round every field first so that what is written is what is kept.
  auto f32 = [](double value) { return static_cast<double>(static_cast<float>(value)); };
  const double spacing_ijk[3] = {spacing[2], spacing[1], spacing[0]};
  nifti_dmat44 affine{};
  for (int row = 0; row < 3; ++row) {
    for (int col = 0; col < 3; ++col) affine.m[row][col] = direction[row][col] * spacing_ijk[col];
    affine.m[row][3] = origin[row];
  }
  affine.m[3][3] = 1.0;
  double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
  nifti_dmat44_to_quatern(affine, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);

  NiftiHeaderInfo info;
  info.version = 1;
  info.ndim = 3;
  NiftiGeometry& g = info.geometry;
  g.nifti_version = 1;
  g.dim = {3, shape[2], shape[1], shape[0], 1, 1, 1, 1};
  g.pixdim = {qfac < 0 ? -1.0 : 1.0, f32(spacing_ijk[0]), f32(spacing_ijk[1]), f32(spacing_ijk[2]), 0, 0, 0, 0};
  g.qform_code = NIFTI_XFORM_SCANNER_ANAT;
  g.sform_code = NIFTI_XFORM_SCANNER_ANAT;
  g.quatern_b = f32(qb), g.quatern_c = f32(qc), g.quatern_d = f32(qd);
  g.qoffset_x = f32(qx), g.qoffset_y = f32(qy), g.qoffset_z = f32(qz);
  for (int row = 0; row < 3; ++row)
    for (int col = 0; col < 4; ++col) g.srow[row][col] = f32(affine.m[row][col]);
  g.xyzt_units = NIFTI_UNITS_MM;
  nifti_detail::check_and_derive_geometry(info, "make_nifti_geometry", NiftiReadOptions{});
  return g;
}

}  // namespace nnuc::data
