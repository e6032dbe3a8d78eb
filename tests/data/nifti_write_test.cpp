// Writing NIfTI label maps and float images with a reference geometry: datatype rule, exact
// geometry (checked on the written bytes), NIfTI-1 and -2, .nii and .nii.gz, and atomicity.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "data/nifti/nifti_io.h"
#include "tests/data/nifti_test_files.h"
#include "tests/support/scratch_folder.h"
#include "tests/support/test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace nnuc::testing::nifti;
using nnuc::data::NiftiGeometry;

class NiftiWrite : public nnuc::testing::ScratchFolderTest {
 protected:
  std::string write(const std::string& name, const Bytes& bytes) {
    std::ofstream out(path(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path(name);
  }
  static Bytes read_bytes(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
  }
};

// A reference with an oblique qform (qfac -1), a different sform (code 4), odd sizes and
// float32 values that are not round numbers.
FileSpec oblique_reference(int version, bool big_endian) {
  FileSpec spec;
  spec.version = version, spec.big_endian = big_endian;
  spec.dim = {3, 9, 6, 5, 1, 1, 1, 1};
  spec.pixdim = {-1, 0.7f, 0.9f, 2.6f, 1, 1, 1, 1};
  spec.quatern_b = 0.1f, spec.quatern_c = -0.3f, spec.quatern_d = 0.2f;
  spec.qoffset_x = -91.7f, spec.qoffset_y = 120.3f, spec.qoffset_z = -33.1f;
  spec.qform_code = 1, spec.sform_code = 4;
  spec.srow = {{{0.69f, 0.01f, -0.05f, -91.7f}, {0.02f, 0.88f, 0.3f, 120.3f}, {0.1f, -0.1f, 2.55f, -33.1f}}};
  spec.xyzt_units = 2 | 8;
  spec.data = encode(std::vector<float>(9 * 6 * 5, 1.0f), big_endian);
  spec.datatype = kFloat32;
  if (version == 2) spec.srow[1][3] = 120.30000000000001;  // not representable in float32
  return spec;
}

nnuc::Tensor labels_with_max(const std::array<std::int64_t, 3>& shape, int largest, nnuc::DType dtype) {
  nnuc::Tensor labels = nnuc::testing::random_labels(nnuc::Shape{shape[0], shape[1], shape[2]}, dtype, 5);
  if (dtype == nnuc::DType::i16) labels.data<std::int16_t>()[7] = static_cast<std::int16_t>(largest);
  if (dtype == nnuc::DType::u8) labels.data<std::uint8_t>()[7] = static_cast<std::uint8_t>(largest);
  return labels;
}

TEST_F(NiftiWrite, LabelsAreUint8BelowMax255ElseUint16WithTheReferenceGeometryExactly) {
  for (int version : {1, 2})
    for (bool big_endian : {false, true})
      for (const char* ending : {".nii", ".nii.gz"})
        for (int largest : {4, 254, 255, 32767}) {
          const Bytes reference_bytes = build(oblique_reference(version, big_endian));
          const NiftiGeometry reference = nnuc::data::read_nifti(write("reference.nii", reference_bytes)).geometry;
          const nnuc::DType dtype = largest <= 255 && version == 1 ? nnuc::DType::u8 : nnuc::DType::i16;
          const nnuc::Tensor labels = labels_with_max(reference.shape(), largest, dtype);
          const std::string out = path(std::string("labels") + ending);
          SCOPED_TRACE(out + " v" + std::to_string(version) + " max " + std::to_string(largest));
          nnuc::data::write_nifti_label(out, labels, reference);

          const Bytes written =
              std::string(ending) == ".nii" ? read_bytes(out) : Bytes{};  // header checks need plain bytes
          const nnuc::data::NiftiLabel back = nnuc::data::read_nifti_label(out);
          EXPECT_EQ(back.labels.to_vector<std::int32_t>(), labels.to_vector<std::int32_t>());
          EXPECT_TRUE(nnuc::data::same_header_geometry(back.geometry, reference));
          EXPECT_EQ(back.geometry.affine, reference.affine);
          EXPECT_EQ(back.geometry.nifti_version, version);
          // The datatype on disk follows nnU-Net's rule; checked on the header bytes.
          if (!written.empty()) {
            const auto info = nnuc::data::validate_nifti_header(written.data(), written.size(), out);
            EXPECT_EQ(info.datatype, largest < 255 ? kUint8 : kUint16);
            EXPECT_EQ(info.version, version);
          }
          // Geometry bytes equal the reference's where both are little-endian NIfTI-1 (offsets of nifti1.h).
          if (!written.empty() && version == 1 && !big_endian) {
            for (auto [begin, end] : std::vector<std::pair<int, int>>{{76, 92}, {123, 124}, {252, 328}})
              EXPECT_TRUE(std::equal(written.begin() + begin, written.begin() + end, reference_bytes.begin() + begin))
                  << "bytes " << begin << ".." << end;
          }
          EXPECT_EQ(entries(), (std::vector<std::string>{std::string("labels") + ending, "reference.nii"}));
          fs::remove(out);
        }
}

TEST_F(NiftiWrite, FloatImagesRoundTripBitForBitWithNonFiniteValues) {
  for (int version : {1, 2})
    for (const char* ending : {".nii", ".nii.gz"}) {
      const NiftiGeometry reference =
          nnuc::data::read_nifti(write("reference.nii.gz", gzip(build(oblique_reference(version, true))))).geometry;
      const auto shape = reference.shape();
      nnuc::Tensor voxels =
          nnuc::testing::random_uniform(nnuc::Shape{shape[0], shape[1], shape[2]}, nnuc::DType::f32, -1e6, 1e6);
      voxels.data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
      voxels.data<float>()[4] = -std::numeric_limits<float>::infinity();
      voxels.data<float>()[5] = std::numeric_limits<float>::denorm_min();
      const std::string out = path(std::string("image") + ending);
      nnuc::data::write_nifti_image(out, voxels, reference);
      const nnuc::data::NiftiImage back = nnuc::data::read_nifti(out);
      ASSERT_EQ(back.voxels.shape(), (nnuc::Shape{1, shape[0], shape[1], shape[2]}));
      EXPECT_EQ(std::memcmp(back.voxels.raw(), voxels.raw(), voxels.bytes()), 0);
      EXPECT_EQ(back.non_finite_voxels, 2);
      EXPECT_TRUE(nnuc::data::same_header_geometry(back.geometry, reference));
    }
}

TEST_F(NiftiWrite, OutputOfAFourDimensionalOrTwoDimensionalReference) {
  FileSpec four = oblique_reference(1, false);
  four.dim = {4, 9, 6, 5, 2, 1, 1, 1};
  four.data = encode(std::vector<float>(9 * 6 * 5 * 2, 2.0f), false);
  const NiftiGeometry reference4 = nnuc::data::read_nifti(write("four.nii", build(four))).geometry;
  const nnuc::Tensor labels = labels_with_max(reference4.shape(), 3, nnuc::DType::u8);
  nnuc::data::write_nifti_label(path("out.nii"), labels, reference4);
  const nnuc::data::NiftiLabel back = nnuc::data::read_nifti_label(path("out.nii"));
  EXPECT_EQ(back.geometry.dim[0], 3);
  EXPECT_TRUE(nnuc::data::same_header_geometry(back.geometry, reference4));

  FileSpec two = oblique_reference(1, false);
  two.dim = {2, 9, 6, 1, 1, 1, 1, 1};
  two.data = encode(std::vector<float>(54, 2.0f), false);
  const NiftiGeometry reference2 = nnuc::data::read_nifti(write("two.nii", build(two))).geometry;
  ASSERT_EQ(reference2.shape(), (std::array<std::int64_t, 3>{1, 6, 9}));
  nnuc::data::write_nifti_image(path("out2.nii.gz"),
                                nnuc::testing::random_uniform(nnuc::Shape{1, 6, 9}, nnuc::DType::f32), reference2);
  EXPECT_EQ(nnuc::data::read_nifti(path("out2.nii.gz")).geometry.dim[0], 2);
}

TEST_F(NiftiWrite, MadeGeometryRoundTrips) {
  // Axes permuted and flipped: i -> -y, j -> +z, k -> -x.
  const std::array<std::array<double, 3>, 3> direction{{{0, 0, -1}, {-1, 0, 0}, {0, 1, 0}}};
  const NiftiGeometry made = nnuc::data::make_nifti_geometry({5, 6, 7}, {2.5, 0.75, 1.25}, {10.5, -3.25, 7}, direction);
  EXPECT_EQ(made.shape(), (std::array<std::int64_t, 3>{5, 6, 7}));
  nnuc::data::write_nifti_image(path("made.nii.gz"),
                                nnuc::testing::random_uniform(nnuc::Shape{5, 6, 7}, nnuc::DType::f32), made);
  const NiftiGeometry back = nnuc::data::read_nifti(path("made.nii.gz")).geometry;
  EXPECT_EQ(back.spacing, (std::array<double, 3>{2.5, 0.75, 1.25}));
  EXPECT_EQ(back.origin, (std::array<double, 3>{10.5, -3.25, 7}));
  EXPECT_EQ(back.direction, direction);
  EXPECT_TRUE(nnuc::data::same_header_geometry(back, made));
  for (int field = 0; field < 4; ++field) {
    NiftiGeometry changed = made;
    if (field == 0) changed.srow[2][3] += 0.5;
    if (field == 1) changed.pixdim[0] = -changed.pixdim[0];
    if (field == 2) changed.dim[2] += 1;
    if (field == 3) changed.xyzt_units = 3;
    EXPECT_FALSE(nnuc::data::same_header_geometry(changed, made)) << "field " << field;
  }
  EXPECT_THROW(nnuc::data::make_nifti_geometry({5, 6, 7}, {0, 1, 1}, {0, 0, 0}, direction), nnuc::InvalidInput);
  EXPECT_THROW(nnuc::data::make_nifti_geometry({5, 6, 7}, {1, 1, 1}, {0, 0, 0}, {{{1, 0, 0}, {1, 1, 0}, {0, 0, 1}}}),
               nnuc::InvalidInput);
}

TEST_F(NiftiWrite, FailedWritesLeaveNoFileBehind) {
  const NiftiGeometry reference =
      nnuc::data::read_nifti(write("reference.nii", build(oblique_reference(1, false)))).geometry;
  const auto shape = reference.shape();
  const nnuc::Tensor labels = labels_with_max(shape, 4, nnuc::DType::i16);

  // The folder does not exist: nothing can be created.
  EXPECT_THROW(nnuc::data::write_nifti_label(path("missing/out.nii.gz"), labels, reference), nnuc::IoError);

  // The target is a folder: the rename fails after the temp file was written and verified.
  fs::create_directories(folder_ / "taken.nii");
  EXPECT_THROW(nnuc::data::write_nifti_label(path("taken.nii"), labels, reference), nnuc::IoError);
  EXPECT_TRUE(fs::is_directory(folder_ / "taken.nii"));

  // The disk fills up mid-write (RLIMIT_FSIZE): the previous file stays whole.
  nnuc::data::write_nifti_label(path("kept.nii"), labels, reference);
  const Bytes before = read_bytes(path("kept.nii"));
  const nnuc::Tensor big = nnuc::testing::random_uniform(nnuc::Shape{shape[0], shape[1], shape[2]}, nnuc::DType::f32);
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  void (*old_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 600;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  bool failed = false;
  try {
    nnuc::data::write_nifti_image(path("kept.nii"), big, reference);
  } catch (const nnuc::IoError& error) {
    failed = std::string(error.what()).find("NIFTI_WRITE") != std::string::npos;
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(failed);
  EXPECT_EQ(read_bytes(path("kept.nii")), before);

  // Contract violations are refused before anything is written.
  nnuc::Tensor negative = labels.to_cpu();
  negative.data<std::int16_t>()[0] = -1;
  EXPECT_THROW(nnuc::data::write_nifti_label(path("negative.nii"), negative, reference), nnuc::InvalidInput);
  EXPECT_THROW(nnuc::data::write_nifti_label(
                   path("shape.nii"), nnuc::Tensor::empty_cpu(nnuc::Shape{2, 2, 2}, nnuc::DType::i16), reference),
               nnuc::InvalidInput);
  EXPECT_THROW(nnuc::data::write_nifti_image(path("dtype.nii"), labels, reference), nnuc::InvalidInput);
  EXPECT_THROW(nnuc::data::write_nifti_image(path("name.nrrd"), big, reference), nnuc::InvalidInput);
  NiftiGeometry unrepresentable = reference;
  unrepresentable.srow[0][3] = 0.1;  // not a float32 value: a NIfTI-1 file could not hold it exactly
  EXPECT_THROW(nnuc::data::write_nifti_image(path("float.nii"), big, unrepresentable), nnuc::InvalidInput);

  EXPECT_EQ(entries(), (std::vector<std::string>{"kept.nii", "reference.nii", "taken.nii"}));
}

}  // namespace
