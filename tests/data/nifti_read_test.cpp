// Reading NIfTI files built byte by byte in the test (tests/data/nifti_test_files.h): every
// allow-listed datatype, both byte orders, NIfTI-1 and -2, .nii and .nii.gz, scaling, 1-D to 5-D
// shapes, label maps, and the geometry precedence against an independent quaternion formula.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "data/nifti/nifti_io.h"
#include "tests/data/nifti_test_files.h"
#include "tests/support/scratch_folder.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace nnuc::testing::nifti;
using nnuc::data::NiftiImage;

class NiftiRead : public nnuc::testing::ScratchFolderTest {
 protected:
  std::string write(const std::string& name, const Bytes& bytes) {
    std::ofstream out(path(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path(name);
  }
};

// Calls fn(T{}) with the C++ type of a NIfTI datatype code.
template <typename Fn>
void with_type(int datatype, Fn&& fn) {
  switch (datatype) {
    case kUint8: fn(std::uint8_t{}); break;
    case kInt8: fn(std::int8_t{}); break;
    case kInt16: fn(std::int16_t{}); break;
    case kUint16: fn(std::uint16_t{}); break;
    case kInt32: fn(std::int32_t{}); break;
    case kUint32: fn(std::uint32_t{}); break;
    case kInt64: fn(std::int64_t{}); break;
    case kUint64: fn(std::uint64_t{}); break;
    case kFloat32: fn(float{}); break;
    case kFloat64: fn(double{}); break;
    default: FAIL() << "datatype " << datatype;
  }
}

// Random values over the type's whole range (floats: a wide finite range).
template <typename T>
std::vector<T> random_values(std::size_t count) {
  std::vector<T> values(count);
  for (T& value : values) {
    if constexpr (std::is_floating_point_v<T>) {
      value = static_cast<T>(std::uniform_real_distribution<double>(-3e4, 3e4)(nnuc::testing::rng()));
    } else if constexpr (sizeof(T) == 8) {
      value = static_cast<T>(nnuc::testing::rng()());
    } else {
      value = static_cast<T>(std::uniform_int_distribution<long long>(
          std::numeric_limits<T>::min(), std::numeric_limits<T>::max())(nnuc::testing::rng()));
    }
  }
  values[0] = static_cast<T>(1);  // never all zeros
  return values;
}

TEST_F(NiftiRead, EveryDatatypeBothByteOrdersBothVersionsPlainAndGzip) {
  int files = 0;
  for (int version : {1, 2})
    for (bool big_endian : {false, true})
      for (bool gz : {false, true})
        for (bool scaled : {false, true})
          for (int datatype : allowed_datatypes()) {
            with_type(datatype, [&](auto tag) {
              using T = decltype(tag);
              FileSpec spec;
              spec.version = version, spec.big_endian = big_endian, spec.datatype = datatype;
              spec.dim = {3, 5, 4, 3, 1, 1, 1, 1};
              spec.scl_slope = scaled ? 0.5 : 1.0;
              spec.scl_inter = scaled ? -3.25 : 0.0;
              const std::vector<T> raw = random_values<T>(60);
              spec.data = encode(raw, big_endian);
              const Bytes file = build(spec);
              const std::string name = "v" + std::to_string(version) + (big_endian ? "be" : "le") + "_" +
                                       std::to_string(datatype) + (scaled ? "_scaled" : "") + (gz ? ".nii.gz" : ".nii");
              SCOPED_TRACE(name);
              const Bytes bytes = gz ? gzip(file) : file;
              const NiftiImage image = nnuc::data::read_nifti(write(name, bytes));
              ASSERT_EQ(image.voxels.shape(), (nnuc::Shape{1, 3, 4, 5}));
              const std::vector<float> got = image.voxels.to_vector<float>();
              for (std::size_t index = 0; index < raw.size(); ++index) {
                // Scaling in double, rounded once to float32 (nibabel computes the same in float64).
                const float expected = scaled ? static_cast<float>(static_cast<double>(raw[index]) * 0.5 - 3.25)
                                              : static_cast<float>(raw[index]);
                ASSERT_EQ(got[index], expected) << "voxel " << index;
              }
              EXPECT_TRUE(image.warnings.empty()) << image.warnings.front();
              EXPECT_EQ(image.geometry.nifti_version, version);
              EXPECT_EQ(image.geometry.spacing, (std::array<double, 3>{3.25, 2.0, 1.5}));
              const NiftiImage from_memory = nnuc::data::read_nifti_from_memory(bytes.data(), bytes.size(), name);
              EXPECT_EQ(from_memory.voxels.to_vector<float>(), got);
              ++files;
            });
          }
  EXPECT_EQ(files, 2 * 2 * 2 * 2 * 10);
}

TEST_F(NiftiRead, LabelMapsFromEveryDatatype) {
  for (bool big_endian : {false, true})
    for (int datatype : allowed_datatypes()) {
      with_type(datatype, [&](auto tag) {
        using T = decltype(tag);
        SCOPED_TRACE(std::to_string(datatype) + (big_endian ? " big-endian" : " little-endian"));
        std::vector<T> raw(7 * 3 * 2);
        const int low = std::is_signed_v<T> ? -20 : 0;
        for (T& value : raw) value = static_cast<T>(std::uniform_int_distribution<int>(low, 120)(nnuc::testing::rng()));
        raw[0] = static_cast<T>(std::is_signed_v<T> ? -7 : 7);
        FileSpec spec;
        spec.big_endian = big_endian, spec.datatype = datatype, spec.dim = {3, 7, 3, 2, 1, 1, 1, 1};
        spec.scl_slope = 0;  // no scaling (as nibabel writes labels: NaN; 0 means the same)
        spec.data = encode(raw, big_endian);
        const nnuc::data::NiftiLabel label = nnuc::data::read_nifti_label(write("label.nii.gz", gzip(build(spec))));
        ASSERT_EQ(label.labels.dtype(), nnuc::DType::i16);
        ASSERT_EQ(label.labels.shape(), (nnuc::Shape{2, 3, 7}));
        const std::vector<std::int16_t> got = label.labels.to_vector<std::int16_t>();
        for (std::size_t index = 0; index < raw.size(); ++index)
          ASSERT_EQ(got[index], static_cast<std::int16_t>(raw[index])) << index;
      });
    }
}

TEST_F(NiftiRead, ShapesFromOneToFiveDimensionsKeepFileOrder) {
  struct Case {
    std::array<std::int64_t, 8> dim;
    nnuc::Shape expected;
  };
  for (const Case& c : std::vector<Case>{{{1, 5, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 5}},
                                         {{2, 5, 4, 9, 9, 1, 1, 1}, {1, 1, 4, 5}},
                                         {{3, 5, 4, 3, 1, 1, 1, 1}, {1, 3, 4, 5}},
                                         {{4, 5, 4, 3, 2, 1, 1, 1}, {2, 3, 4, 5}},
                                         {{5, 5, 4, 3, 2, 3, 1, 1}, {6, 3, 4, 5}}}) {
    FileSpec spec;
    spec.dim = c.dim;
    spec.datatype = kInt32;
    std::vector<std::int32_t> raw(voxel_count(spec));
    for (std::size_t index = 0; index < raw.size(); ++index) raw[index] = static_cast<std::int32_t>(index) * 3 - 11;
    spec.data = encode(raw, false);
    spec.pixdim[3] = c.dim[0] >= 3 ? 3.25 : 0.0;  // unused axis of a 2-D file: 0, taken as 1 (nibabel's fix)
    const NiftiImage image = nnuc::data::read_nifti(write("shape.nii", build(spec)));
    SCOPED_TRACE("dim[0] = " + std::to_string(c.dim[0]));
    ASSERT_EQ(image.voxels.shape(), c.expected);
    // (T, a0, a1, a2) row-major is the file's order: element [t][k][j][i] = voxel i + nx (j + ny (k + nz t)).
    EXPECT_EQ(image.voxels.to_vector<std::int32_t>(), raw);
    EXPECT_EQ(image.geometry.spacing[0], c.dim[0] >= 3 ? 3.25 : 1.0);
    EXPECT_EQ(image.geometry.shape(), (std::array<std::int64_t, 3>{c.expected[1], c.expected[2], c.expected[3]}));
  }
}

TEST_F(NiftiRead, ScalingRules) {
  FileSpec spec;
  spec.dim = {3, 2, 2, 1, 1, 1, 1, 1};
  spec.data = encode(std::vector<std::int16_t>{-3, 0, 7, 1000}, false);
  const std::vector<float> raw = {-3, 0, 7, 1000};
  for (double no_scaling : {0.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    spec.scl_slope = no_scaling, spec.scl_inter = 100;
    EXPECT_EQ(nnuc::data::read_nifti(write("s.nii", build(spec))).voxels.to_vector<float>(), raw) << no_scaling;
    EXPECT_EQ(nnuc::data::read_nifti_label(write("s.nii", build(spec))).labels.to_vector<float>(), raw);
  }
  spec.scl_slope = -2, spec.scl_inter = 0.5;
  EXPECT_EQ(nnuc::data::read_nifti(write("s.nii", build(spec))).voxels.to_vector<float>(),
            (std::vector<float>{6.5f, 0.5f, -13.5f, -1999.5f}));
  EXPECT_THROW(nnuc::data::read_nifti_label(write("s.nii", build(spec))), nnuc::InvalidInput);
  spec.scl_slope = 1, spec.scl_inter = 0;  // explicit identity is fine for labels
  EXPECT_EQ(nnuc::data::read_nifti_label(write("s.nii", build(spec))).labels.to_vector<float>(), raw);
}

// The NIfTI-1 quaternion formula (nifti1.h), written out independently of nifticlib.
std::array<std::array<double, 4>, 3> quaternion_affine(double b, double c, double d, std::array<double, 3> offset,
                                                       std::array<double, 3> zoom, double qfac) {
  const double a = std::sqrt(std::max(0.0, 1.0 - (b * b + c * c + d * d)));
  const double r[3][3] = {{a * a + b * b - c * c - d * d, 2 * b * c - 2 * a * d, 2 * b * d + 2 * a * c},
                          {2 * b * c + 2 * a * d, a * a + c * c - b * b - d * d, 2 * c * d - 2 * a * b},
                          {2 * b * d - 2 * a * c, 2 * c * d + 2 * a * b, a * a + d * d - c * c - b * b}};
  zoom[2] *= qfac;
  std::array<std::array<double, 4>, 3> m{};
  for (int row = 0; row < 3; ++row) {
    for (int col = 0; col < 3; ++col) m[row][col] = r[row][col] * zoom[col];
    m[row][3] = offset[row];
  }
  return m;
}

TEST_F(NiftiRead, GeometryPrecedenceSformThenQformThenPixdim) {
  FileSpec spec;
  spec.version = 2;  // double fields: the quaternion is exact
  spec.data = encode(std::vector<std::int16_t>(105, 3), false);
  // A rotation of 50 degrees about (1, 2, 2)/3, qfac -1, and a different sform.
  const double half = 25.0 * M_PI / 180.0;
  spec.quatern_b = std::sin(half) / 3, spec.quatern_c = 2 * std::sin(half) / 3, spec.quatern_d = 2 * std::sin(half) / 3;
  spec.pixdim[0] = -1;
  spec.qform_code = 1, spec.sform_code = 4;
  spec.srow = {{{0, 0, 3.25, 7}, {1.5, 0, 0, -8}, {0, -2, 0, 9}}};
  NiftiImage image = nnuc::data::read_nifti(write("both.nii", build(spec)));
  EXPECT_EQ(image.geometry.source, nnuc::data::NiftiTransformSource::sform);
  EXPECT_EQ(image.geometry.affine, spec.srow);
  EXPECT_EQ(image.geometry.origin, (std::array<double, 3>{7, -8, 9}));
  EXPECT_EQ(image.geometry.direction[1][0], 1.0);  // axis i points along +y
  EXPECT_EQ(image.geometry.direction[2][1], -1.0);
  EXPECT_EQ(image.geometry.direction[0][2], 1.0);

  spec.sform_code = 0;
  image = nnuc::data::read_nifti(write("qform.nii", build(spec)));
  EXPECT_EQ(image.geometry.source, nnuc::data::NiftiTransformSource::qform);
  const auto expected = quaternion_affine(spec.quatern_b, spec.quatern_c, spec.quatern_d,
                                          {spec.qoffset_x, spec.qoffset_y, spec.qoffset_z}, {1.5, 2.0, 3.25}, -1);
  for (int row = 0; row < 3; ++row)
    for (int col = 0; col < 4; ++col) EXPECT_NEAR(image.geometry.affine[row][col], expected[row][col], 1e-12);
  for (int col = 0; col < 3; ++col) {
    double norm = 0;
    for (int row = 0; row < 3; ++row) norm += image.geometry.direction[row][col] * image.geometry.direction[row][col];
    EXPECT_NEAR(norm, 1.0, 1e-12);
  }

  spec.qform_code = 0;
  image = nnuc::data::read_nifti(write("none.nii", build(spec)));
  EXPECT_EQ(image.geometry.source, nnuc::data::NiftiTransformSource::pixdim);
  // nibabel: diag(-dx, dy, dz), translation -((n - 1) / 2) * zoom with x flipped; dims (7, 5, 3).
  const std::array<std::array<double, 4>, 3> fallback{{{-1.5, 0, 0, 4.5}, {0, 2.0, 0, -4.0}, {0, 0, 3.25, -3.25}}};
  EXPECT_EQ(image.geometry.affine, fallback);
  ASSERT_FALSE(image.warnings.empty());
  EXPECT_EQ(image.warnings.back().rfind("NIFTI_W_NO_TRANSFORM:", 0), 0u);

  // The original fields are kept as they were, whatever the precedence chose.
  EXPECT_EQ(image.geometry.quatern_b, spec.quatern_b);
  EXPECT_EQ(image.geometry.srow, spec.srow);
  EXPECT_EQ(image.geometry.pixdim[0], -1.0);
}

TEST_F(NiftiRead, NegativePixdimIsMadeAbsoluteWithAWarningOrRejected) {
  FileSpec spec;
  spec.data = encode(std::vector<std::int16_t>(105, 3), false);
  spec.pixdim[1] = -1.5;
  spec.sform_code = 0;
  const std::string path = write("negative.nii", build(spec));
  const NiftiImage image = nnuc::data::read_nifti(path);
  EXPECT_EQ(image.geometry.spacing[2], 1.5);
  EXPECT_EQ(image.geometry.affine[0][0], 1.5);  // the qform uses |pixdim| (nibabel's fix)
  EXPECT_EQ(image.geometry.pixdim[1], -1.5);    // kept as stored
  nnuc::data::NiftiReadOptions strict;
  strict.reject_negative_pixdim = true;
  EXPECT_THROW(nnuc::data::read_nifti(path, strict), nnuc::IoError);
}

TEST_F(NiftiRead, HeaderInfoDescribesTheFile) {
  FileSpec spec;
  spec.version = 2, spec.big_endian = true, spec.datatype = kUint16;
  spec.dim = {4, 3, 2, 2, 2, 1, 1, 1};
  spec.scl_slope = 4, spec.scl_inter = -1;
  spec.extender[0] = 1;
  spec.extensions = extension(32, 6, "a comment", true);
  spec.data = encode(std::vector<std::uint16_t>(24, 9), true);
  const Bytes bytes = build(spec);
  const auto info = nnuc::data::validate_nifti_header(bytes.data(), bytes.size(), "info.nii");
  EXPECT_EQ(info.version, 2);
  EXPECT_TRUE(info.big_endian);
  EXPECT_EQ(info.header_bytes, 540u);
  EXPECT_EQ(info.ndim, 4);
  EXPECT_EQ(info.datatype, kUint16);
  EXPECT_EQ(info.bytes_per_voxel, 2);
  EXPECT_EQ(info.voxel_count, 24u);
  EXPECT_EQ(info.data_bytes, 48u);
  EXPECT_EQ(info.vox_offset, 576u);
  EXPECT_EQ(info.extension_count, 1);
  EXPECT_TRUE(info.scaled);
  EXPECT_EQ(info.scl_slope, 4.0);
  EXPECT_TRUE(info.warnings.empty());
  const NiftiImage image = nnuc::data::read_nifti_from_memory(bytes.data(), bytes.size(), "info.nii");
  EXPECT_EQ(image.voxels.to_vector<float>(), std::vector<float>(24, 35.0f));
}

TEST_F(NiftiRead, RefusesWhatIsNotARegularNiftiFile) {
  EXPECT_THROW(nnuc::data::read_nifti((folder_ / "image.hdr").string()), nnuc::InvalidInput);
  EXPECT_THROW(nnuc::data::read_nifti((folder_ / "missing.nii").string()), nnuc::IoError);
  fs::create_directories(folder_ / "folder.nii");
  EXPECT_THROW(nnuc::data::read_nifti((folder_ / "folder.nii").string()), nnuc::IoError);
  const std::string fifo = (folder_ / "pipe.nii.gz").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  try {
    (void)nnuc::data::read_nifti(fifo);  // must not block waiting for a writer
    ADD_FAILURE() << "a FIFO was read";
  } catch (const nnuc::IoError& error) {
    EXPECT_NE(std::string(error.what()).find("not a regular file"), std::string::npos) << error.what();
  }
}

}  // namespace
