// The malformed-NIfTI corpus (shared/spec/reliability.md T1), generated in code: every case
// names its category, its bytes and the expected outcome (error code and message parts, or
// acceptance with a warning code). Also the valid seed files for the fuzzers. Header-only:
// used by tests/data/nifti_malformed_test.cpp and fuzz/nifti_seed_corpus.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/data/nifti_test_files.h"

namespace nnuc::testing::nifti {

enum class Outcome { accept, io_error, invalid_input };
enum class Reader { image, label };

struct CorpusCase {
  std::string name;      // file name; its ending (.nii / .nii.gz / other) matters to read_nifti
  std::string category;  // T1 category
  Bytes bytes;
  Outcome outcome = Outcome::accept;
  std::string code;                // error code; for accept, a warning code that must be reported (or empty)
  std::vector<std::string> parts;  // more substrings the error message must hold (field, value)
  Reader reader = Reader::image;
  std::uint64_t max_bytes = 16ull << 30;
  bool reject_negative_pixdim = false;
  bool reject_non_finite = false;
  bool memory_too = true;       // read_*_from_memory must agree (false where the file name decides)
  std::vector<float> expected;  // for accepted cases: the voxel values, when checked
};

// The default spec's voxels: a fixed int16 pattern (7 x 5 x 3 = 105 values).
inline std::vector<std::int16_t> pattern_values(std::size_t count) {
  std::vector<std::int16_t> values(count);
  for (std::size_t index = 0; index < count; ++index)
    values[index] = static_cast<std::int16_t>(static_cast<int>((index * 37 + 11) % 2000) - 500);
  return values;
}

inline FileSpec valid_spec(int version = 1, bool big_endian = false) {
  FileSpec spec;
  spec.version = version;
  spec.big_endian = big_endian;
  spec.data = encode(pattern_values(voxel_count(spec)), big_endian);
  return spec;
}

inline std::vector<float> pattern_floats() {
  const std::vector<std::int16_t> values = pattern_values(105);
  return std::vector<float>(values.begin(), values.end());
}

inline std::vector<CorpusCase> malformed_corpus() {
  std::vector<CorpusCase> cases;
  auto reject = [&](std::string name, std::string category, Bytes bytes, std::string code,
                    std::vector<std::string> parts = {}) -> CorpusCase& {
    CorpusCase c;
    c.name = std::move(name), c.category = std::move(category), c.bytes = std::move(bytes);
    c.outcome = Outcome::io_error, c.code = std::move(code), c.parts = std::move(parts);
    cases.push_back(std::move(c));
    return cases.back();
  };
  auto invalid = [&](std::string name, std::string category, Bytes bytes, std::string code,
                     std::vector<std::string> parts = {}) -> CorpusCase& {
    CorpusCase& c = reject(std::move(name), std::move(category), std::move(bytes), std::move(code), std::move(parts));
    c.outcome = Outcome::invalid_input;
    return c;
  };
  auto accept = [&](std::string name, std::string category, Bytes bytes, std::string warning = {}) -> CorpusCase& {
    CorpusCase c;
    c.name = std::move(name), c.category = std::move(category), c.bytes = std::move(bytes);
    c.outcome = Outcome::accept, c.code = std::move(warning);
    cases.push_back(std::move(c));
    return cases.back();
  };
  auto with = [](FileSpec spec, auto&& change) {
    change(spec);
    return build(spec);
  };
  const Bytes valid = build(valid_spec());
  const Bytes valid2 = build(valid_spec(2));
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();

  // ---- Container -----------------------------------------------------------------------------
  reject("empty.nii", "container", {}, "NIFTI_TRUNCATED", {"0 bytes"});
  reject("one_byte.nii", "container", {0x5c}, "NIFTI_TRUNCATED", {"1 bytes"});
  reject("cut_347.nii", "container", Bytes(valid.begin(), valid.begin() + 347), "NIFTI_TRUNCATED", {"347"});
  reject("header_only_348.nii", "container", Bytes(valid.begin(), valid.begin() + 348), "NIFTI_VOX_OFFSET",
         {"vox_offset", "352", "348-byte file"});
  reject("no_data_352.nii", "container", Bytes(valid.begin(), valid.begin() + 352), "NIFTI_TRUNCATED_DATA",
         {"210 data bytes"});
  reject("cut_in_data.nii", "container", Bytes(valid.begin(), valid.end() - 1), "NIFTI_TRUNCATED_DATA");
  reject("nifti2_cut_400.nii", "container", Bytes(valid2.begin(), valid2.begin() + 400), "NIFTI_TRUNCATED",
         {"400 bytes", "540"});
  reject("not_gzip.nii.gz", "container", valid, "NIFTI_GZ_MAGIC", {"1f 8b"}).memory_too = false;
  reject("gzip_named_nii.nii", "container", gzip(valid), "NIFTI_SIZEOF_HDR", {"gzip"}).memory_too = false;
  const Bytes gz = gzip(valid);
  reject("gz_cut_in_header.nii.gz", "container", Bytes(gz.begin(), gz.begin() + 20), "NIFTI_GZ_TRUNCATED");
  reject("gz_cut_in_data.nii.gz", "container",
         Bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() * 3 / 4)), "NIFTI_GZ_TRUNCATED");
  reject("gz_no_trailer.nii.gz", "container", Bytes(gz.begin(), gz.end() - 8), "NIFTI_GZ_TRUNCATED");
  {
    Bytes bad = gz;
    bad[bad.size() - 8] ^= 0xff;
    reject("gz_bad_crc.nii.gz", "container", bad, "NIFTI_GZ_CORRUPT", {"incorrect data check"});
    bad = gz;
    bad[bad.size() - 4] ^= 0x01;
    reject("gz_bad_isize.nii.gz", "container", bad, "NIFTI_GZ_CORRUPT", {"incorrect length check"});
    bad = gz;
    bad[10] = 0x07;  // first deflate block: final, type 3 (reserved)
    reject("gz_bad_block_type.nii.gz", "container", bad, "NIFTI_GZ_CORRUPT", {"invalid block type"});
    bad = gz;
    const Bytes garbage = {'j', 'u', 'n', 'k', 0, 1, 2, 3};
    bad.insert(bad.end(), garbage.begin(), garbage.end());
    reject("gz_trailing_garbage.nii.gz", "container", bad, "NIFTI_GZ_TRAILING", {"8 bytes"});
    bad = gz;
    bad.push_back(0x1f);
    reject("gz_trailing_half_magic.nii.gz", "container", bad, "NIFTI_GZ_TRAILING", {"1 bytes"});
  }
  {
    Bytes bomb = valid;
    bomb.resize(bomb.size() + (8u << 20), 0);
    reject("gz_bomb.nii.gz", "container", gzip(bomb, 9), "NIFTI_GZ_OVERSIZE", {"decompression bomb"});
    reject("gz_second_member_bomb.nii.gz", "container", gzip_members(bomb, {valid.size()}), "NIFTI_GZ_OVERSIZE");
    Bytes small_extra = valid;
    small_extra.resize(small_extra.size() + 100, 0);
    accept("gz_small_trailing_inside.nii.gz", "container", gzip(small_extra), "NIFTI_W_TRAILING_BYTES").expected =
        pattern_floats();
  }
  accept("gz_two_members.nii.gz", "container", gzip_members(valid, {200})).expected = pattern_floats();
  accept("gz_three_members_split_header.nii.gz", "container", gzip_members(valid, {3, 347})).expected =
      pattern_floats();
  reject("gz_empty_stream.nii.gz", "container", gzip({}), "NIFTI_TRUNCATED", {"0 bytes"});
  reject(
      "gz_huge_header_small_file.nii.gz", "container",
      gzip(with(valid_spec(),
                [](FileSpec& s) { s.dim = {3, 1024, 1024, 1024, 1, 1, 1, 1}, s.datatype = kUint8, s.data.clear(); })),
      "NIFTI_GZ_TRUNCATED", {"1032:1"});

  // ---- Identity ------------------------------------------------------------------------------
  reject("sizeof_hdr_negative.nii", "identity", with(valid_spec(), [](FileSpec& s) { s.sizeof_hdr = -1; }),
         "NIFTI_SIZEOF_HDR", {"sizeof_hdr (byte 0)", "-1"});
  reject("sizeof_hdr_zero.nii", "identity",
         [&] {
           Bytes bytes = valid;
           std::fill(bytes.begin(), bytes.begin() + 4, 0);
           return bytes;
         }(),
         "NIFTI_SIZEOF_HDR", {"is 0 read"});
  reject("sizeof_hdr_349.nii", "identity", with(valid_spec(), [](FileSpec& s) { s.sizeof_hdr = 349; }),
         "NIFTI_SIZEOF_HDR", {"349"});
  reject("sizeof_hdr_349_be.nii", "identity", with(valid_spec(1, true), [](FileSpec& s) { s.sizeof_hdr = 349; }),
         "NIFTI_SIZEOF_HDR", {"349"});
  reject("sizeof_hdr_540_in_v1.nii", "identity", with(valid_spec(), [](FileSpec& s) { s.sizeof_hdr = 540; }),
         "NIFTI_MAGIC", {"magic (byte 4)"});
  reject("analyze_no_magic.nii", "identity", with(valid_spec(), [](FileSpec& s) { s.magic = std::string(4, '\0'); }),
         "NIFTI_MAGIC", {"Analyze"});
  reject("ni1_in_nii.nii", "identity", with(valid_spec(), [](FileSpec& s) { s.magic = std::string("ni1\0", 4); }),
         "NIFTI_MAGIC", {"ni1"});
  reject("random_magic.nii", "identity", with(valid_spec(), [](FileSpec& s) { s.magic = "x?\x07z"; }), "NIFTI_MAGIC",
         {"x?\\x07z"});
  reject("nifti2_bad_magic.nii", "identity",
         with(valid_spec(2), [](FileSpec& s) { s.magic = std::string("n+2\0\r\n\n\n", 8); }), "NIFTI_MAGIC",
         {"magic (byte 4)"});
  reject("nifti2_ni2_magic.nii", "identity",
         with(valid_spec(2), [](FileSpec& s) { s.magic = std::string("ni2\0\r\n\032\n", 8); }), "NIFTI_MAGIC", {"ni2"});
  accept("valid_big_endian.nii", "identity", build(valid_spec(1, true))).expected = pattern_floats();
  accept("valid_nifti2_big_endian.nii", "identity", build(valid_spec(2, true))).expected = pattern_floats();
  accept("valid_nifti2.nii.gz", "identity", gzip(valid2)).expected = pattern_floats();

  // ---- Dims ----------------------------------------------------------------------------------
  for (int version : {1, 2}) {
    const std::string v = version == 1 ? "" : "nifti2_";
    for (std::int64_t dim0 : {0, -1, 8, 200})
      reject(v + "dim0_" + std::to_string(dim0) + ".nii", "dims",
             with(valid_spec(version), [dim0](FileSpec& s) { s.dim[0] = dim0; }), "NIFTI_DIM0",
             {"dim[0]", std::to_string(dim0)});
    reject(v + "dim2_zero.nii", "dims", with(valid_spec(version), [](FileSpec& s) { s.dim[2] = 0; }), "NIFTI_DIM",
           {"dim[2]", "is 0"});
    reject(v + "dim3_negative.nii", "dims", with(valid_spec(version), [](FileSpec& s) { s.dim[3] = -1; }), "NIFTI_DIM",
           {"dim[3]", "-1"});
  }
  reject("nifti2_product_overflow.nii", "dims",
         with(valid_spec(2), [](FileSpec& s) { s.dim = {3, 1ll << 31, 1ll << 31, 4, 1, 1, 1, 1}; }),
         "NIFTI_SIZE_OVERFLOW", {"overflows 64 bits"});
  reject(
      "nifti2_bytes_overflow.nii", "dims",
      with(valid_spec(2), [](FileSpec& s) { s.dim = {2, 1ll << 31, 1ll << 31, 1, 1, 1, 1, 1}, s.datatype = kFloat64; }),
      "NIFTI_SIZE_OVERFLOW");
  reject("over_default_cap.nii", "dims",
         with(valid_spec(), [](FileSpec& s) { s.dim = {4, 32767, 32767, 32767, 2, 1, 1, 1}; }), "NIFTI_SIZE_CAP",
         {"max_bytes"});
  reject("over_small_cap.nii", "dims", valid, "NIFTI_SIZE_CAP", {"420 bytes as float32", "300"}).max_bytes = 300;
  reject("pr196_377_bytes.nii", "dims",
         [&] {
           FileSpec s = valid_spec();
           s.dim = {3, 512, 512, 512, 1, 1, 1, 1}, s.datatype = kFloat32, s.data = Bytes(25, 0x41);
           return build(s);
         }(),
         "NIFTI_TRUNCATED_DATA", {"536870912 data bytes", "377 bytes"});
  invalid("label_4d.nii", "dims",
          with(valid_spec(),
               [](FileSpec& s) {
                 s.dim = {4, 7, 5, 3, 2, 1, 1, 1};
                 std::vector<std::int16_t> labels(210, 1);
                 s.data = encode(labels, false);
               }),
          "NIFTI_LABEL_VOLUMES", {"2 volumes"})
      .reader = Reader::label;
  accept("image_4d.nii", "dims", with(valid_spec(), [](FileSpec& s) { s.dim = {4, 7, 5, 1, 3, 1, 1, 1}; }));
  accept("junk_above_dim0.nii", "dims",
         with(valid_spec(), [](FileSpec& s) { s.dim[4] = -5, s.dim[5] = 0, s.dim[6] = 30000, s.dim[7] = -32768; }))
      .expected = pattern_floats();
  accept("nifti2_junk_above_dim0.nii", "dims",
         with(valid_spec(2),
              [](FileSpec& s) {
                s.dim[4] = std::numeric_limits<std::int64_t>::min(), s.dim[5] = -1,
                s.dim[7] = std::numeric_limits<std::int64_t>::max();
              }))
      .expected = pattern_floats();

  // ---- Datatype ------------------------------------------------------------------------------
  reject("datatype_unknown_3.nii", "datatype", with(valid_spec(), [](FileSpec& s) { s.datatype = 3; }),
         "NIFTI_DATATYPE", {"datatype", "3 = unknown"});
  reject("datatype_binary.nii", "datatype", with(valid_spec(), [](FileSpec& s) { s.datatype = kBinary; }),
         "NIFTI_DATATYPE", {"binary"});
  reject("datatype_complex64.nii", "datatype", with(valid_spec(), [](FileSpec& s) { s.datatype = kComplex64; }),
         "NIFTI_DATATYPE", {"complex64"});
  reject("datatype_complex128.nii", "datatype", with(valid_spec(), [](FileSpec& s) { s.datatype = kComplex128; }),
         "NIFTI_DATATYPE", {"complex128"});
  reject("datatype_rgb24.nii", "datatype", with(valid_spec(), [](FileSpec& s) { s.datatype = kRgb24; }),
         "NIFTI_DATATYPE", {"RGB24"});
  reject("datatype_rgba32.nii", "datatype", with(valid_spec(), [](FileSpec& s) { s.datatype = kRgba32; }),
         "NIFTI_DATATYPE", {"RGBA32"});
  reject("datatype_float128.nii", "datatype", with(valid_spec(), [](FileSpec& s) { s.datatype = kFloat128; }),
         "NIFTI_DATATYPE", {"float128"});
  accept("bitpix_mismatch.nii", "datatype", with(valid_spec(), [](FileSpec& s) { s.bitpix = 8; }), "NIFTI_W_BITPIX")
      .expected = pattern_floats();

  // ---- Offsets / extensions ------------------------------------------------------------------
  for (auto [label, offset] : std::vector<std::pair<std::string, double>>{
           {"0", 0}, {"348", 348}, {"nan", nan}, {"inf", inf}, {"-1", -1}, {"1e+30", 1e30}, {"352.5", 352.5}})
    reject("vox_offset_" + label + ".nii", "offsets",
           with(valid_spec(), [offset = offset](FileSpec& s) { s.vox_offset = offset; }), "NIFTI_VOX_OFFSET",
           {"vox_offset (byte 108)", label});
  reject("vox_offset_beyond_eof.nii", "offsets",
         with(valid_spec(),
              [](FileSpec& s) {
                s.vox_offset = 4096;
                s.pad_to_vox_offset = false;
              }),
         "NIFTI_VOX_OFFSET", {"4096", "beyond the end"});
  reject("nifti2_vox_offset_540.nii", "offsets", with(valid_spec(2), [](FileSpec& s) { s.vox_offset = 540; }),
         "NIFTI_VOX_OFFSET", {"vox_offset (byte 168)", "540"});
  reject("nifti2_vox_offset_negative.nii", "offsets", with(valid_spec(2), [](FileSpec& s) { s.vox_offset = -4096; }),
         "NIFTI_VOX_OFFSET", {"-4096"});
  accept("vox_offset_360_unaligned.nii", "offsets", with(valid_spec(), [](FileSpec& s) { s.vox_offset = 360; }),
         "NIFTI_W_VOX_OFFSET_ALIGN")
      .expected = pattern_floats();
  accept("extension_flag_without_room.nii", "offsets", with(valid_spec(), [](FileSpec& s) { s.extender[0] = 1; }),
         "NIFTI_W_EXTENSIONS")
      .expected = pattern_floats();
  for (auto [label, esize] : std::vector<std::pair<std::string, std::int32_t>>{
           {"0", 0}, {"7", 7}, {"17", 17}, {"-16", -16}, {"past_vox_offset", 64}})
    accept("extension_esize_" + label + ".nii", "offsets",
           with(valid_spec(),
                [esize = esize](FileSpec& s) {
                  s.extender[0] = 1;
                  s.extensions = extension(32, 6, "comment", false);
                  const Bytes second = extension(esize, 6, "x", false);
                  s.extensions.insert(s.extensions.end(), second.begin(), second.end());
                  s.extensions.resize(48, 0);  // vox_offset = 352 + 48 = 400: a 64-byte extension cannot fit
                }),
           "NIFTI_W_EXTENSIONS")
        .expected = pattern_floats();
  accept("two_extensions_big_endian.nii", "offsets",
         with(valid_spec(1, true),
              [](FileSpec& s) {
                s.extender[0] = 1;
                s.extensions = extension(32, 6, "extcomment1", true);
                const Bytes second = extension(48, 4, "AFNI <xml/>", true);
                s.extensions.insert(s.extensions.end(), second.begin(), second.end());
              }))
      .expected = pattern_floats();
  accept("million_tiny_extensions.nii.gz", "offsets",
         gzip(with(valid_spec(),
                   [](FileSpec& s) {
                     s.extender[0] = 1;
                     const Bytes tiny = extension(16, 0, "", false);
                     s.extensions.reserve(tiny.size() * 1000000);
                     for (int index = 0; index < 1000000; ++index)
                       s.extensions.insert(s.extensions.end(), tiny.begin(), tiny.end());
                   })),
         "NIFTI_W_EXTENSIONS")
      .expected = pattern_floats();

  // ---- Geometry ------------------------------------------------------------------------------
  for (auto [label, value, code] :
       std::vector<std::tuple<std::string, double, std::string>>{{"0", 0.0, "NIFTI_PIXDIM"},
                                                                 {"nan", nan, "NIFTI_PIXDIM"},
                                                                 {"inf", inf, "NIFTI_PIXDIM"},
                                                                 {"1e+30", 1e30, "NIFTI_PIXDIM"},
                                                                 {"1e-06", 1e-6, "NIFTI_PIXDIM"}})
    reject("pixdim1_" + label + ".nii", "geometry",
           with(valid_spec(), [value = value](FileSpec& s) { s.pixdim[1] = value; }), code,
           {"pixdim[1] (byte 80)", label});
  reject("nifti2_pixdim3_zero.nii", "geometry", with(valid_spec(2), [](FileSpec& s) { s.pixdim[3] = 0; }),
         "NIFTI_PIXDIM", {"pixdim[3] (byte 128)"});
  accept("pixdim2_negative.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.pixdim[2] = -2; }),
         "NIFTI_W_PIXDIM_NEGATIVE");
  reject("pixdim2_negative_rejected.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.pixdim[2] = -2; }),
         "NIFTI_PIXDIM", {"pixdim[2]", "-2"})
      .reject_negative_pixdim = true;
  accept("qfac_0.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.pixdim[0] = 0; }), "NIFTI_W_QFAC");
  accept("qfac_2.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.pixdim[0] = 2; }), "NIFTI_W_QFAC");
  reject("quaternion_norm_above_1.nii", "geometry",
         with(valid_spec(), [](FileSpec& s) { s.quatern_b = 0.8, s.quatern_c = 0.8, s.quatern_d = 0.1; }),
         "NIFTI_QUATERN", {"b^2+c^2+d^2"});
  reject("quaternion_nan.nii", "geometry", with(valid_spec(), [nan](FileSpec& s) { s.quatern_c = nan; }),
         "NIFTI_QUATERN", {"nan"});
  reject("qoffset_inf.nii", "geometry", with(valid_spec(), [inf](FileSpec& s) { s.qoffset_y = inf; }), "NIFTI_QUATERN",
         {"inf"});
  accept("garbage_quaternion_qform_code_0.nii", "geometry",
         with(valid_spec(), [nan](FileSpec& s) { s.qform_code = 0, s.quatern_b = 5, s.quatern_c = nan; }));
  reject("qform_code_6.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.qform_code = 6; }), "NIFTI_QFORM_CODE",
         {"qform_code (byte 252)", "6"});
  reject("qform_code_negative.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.qform_code = -1; }),
         "NIFTI_QFORM_CODE", {"-1"});
  reject("sform_code_99.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.sform_code = 99; }),
         "NIFTI_SFORM_CODE", {"sform_code (byte 254)", "99"});
  reject("nifti2_sform_code_7.nii", "geometry", with(valid_spec(2), [](FileSpec& s) { s.sform_code = 7; }),
         "NIFTI_SFORM_CODE", {"sform_code (byte 348)"});
  reject("sform_nan.nii", "geometry", with(valid_spec(), [nan](FileSpec& s) { s.srow[1][3] = nan; }), "NIFTI_SFORM",
         {"srow_y[3]", "nan"});
  reject("sform_singular.nii", "geometry",
         with(valid_spec(),
              [](FileSpec& s) {
                s.srow[2] = {3, 0, 0, 1};
                s.srow[0] = {1.5, 0, 0, 0};
              }),
         "NIFTI_SFORM", {"singular"});
  accept("sform_sheared.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.srow[0][1] = 1.0; }),
         "NIFTI_W_NON_ORTHONORMAL");
  accept("qform_differs_from_sform.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.qoffset_x = 50; }),
         "NIFTI_W_QFORM_SFORM_DIFFER");
  accept("no_transform_codes.nii", "geometry", with(valid_spec(), [](FileSpec& s) { s.qform_code = s.sform_code = 0; }),
         "NIFTI_W_NO_TRANSFORM");
  accept("sform_column_differs_from_pixdim.nii", "geometry",
         with(valid_spec(), [](FileSpec& s) { s.srow[0][0] = 3.0; }), "NIFTI_W_SFORM_PIXDIM");

  // ---- Values --------------------------------------------------------------------------------
  for (auto [label, slope] : std::vector<std::pair<std::string, double>>{{"nan", nan}, {"0", 0.0}, {"inf", inf}})
    accept("scl_slope_" + label + ".nii", "values",
           with(valid_spec(), [slope = slope](FileSpec& s) { s.scl_slope = slope, s.scl_inter = 1000; }))
        .expected = pattern_floats();
  reject("scl_inter_inf.nii", "values", with(valid_spec(), [inf](FileSpec& s) { s.scl_slope = 1, s.scl_inter = inf; }),
         "NIFTI_SCL_INTER", {"scl_inter (byte 116)", "inf"});
  reject("nifti2_scl_inter_nan.nii", "values",
         with(valid_spec(2), [nan](FileSpec& s) { s.scl_slope = 2, s.scl_inter = nan; }), "NIFTI_SCL_INTER",
         {"scl_inter (byte 184)", "nan"});
  const auto float_file = [](std::vector<float> values, bool big_endian) {
    FileSpec s = valid_spec(1, big_endian);
    s.dim = {3, static_cast<std::int64_t>(values.size()), 1, 1, 1, 1, 1, 1};
    s.datatype = kFloat32;
    s.data = encode(values, big_endian);
    return build(s);
  };
  const float fnan = std::numeric_limits<float>::quiet_NaN(), finf = std::numeric_limits<float>::infinity();
  accept("float_nan_inf_voxels.nii", "values", float_file({1.f, fnan, 3.f, -finf}, true));
  invalid("float_nan_voxels_rejected.nii", "values", float_file({1.f, fnan, 3.f, -finf}, false), "NIFTI_NON_FINITE",
          {"2 voxels"})
      .reject_non_finite = true;
  invalid("label_inf.nii", "values", float_file({1.f, 2.f, finf}, false), "NIFTI_LABEL_VALUE", {"inf", "(2, 0, 0)"})
      .reader = Reader::label;
  invalid("label_half.nii", "values", float_file({0.f, 1.f, 0.5f}, false), "NIFTI_LABEL_VALUE", {"0.5", "(2, 0, 0)"})
      .reader = Reader::label;
  invalid("label_int32_70000.nii", "values",
          with(valid_spec(),
               [](FileSpec& s) {
                 s.dim = {3, 2, 2, 1, 1, 1, 1, 1}, s.datatype = kInt32;
                 s.data = encode(std::vector<std::int32_t>{0, 1, 70000, 2}, false);
               }),
          "NIFTI_LABEL_VALUE", {"70000", "(0, 1, 0)"})
      .reader = Reader::label;
  invalid("label_uint16_65535.nii", "values",
          with(valid_spec(1, true),
               [](FileSpec& s) {
                 s.dim = {3, 2, 1, 1, 1, 1, 1, 1}, s.datatype = kUint16;
                 s.data = encode(std::vector<std::uint16_t>{65535, 3}, true);
               }),
          "NIFTI_LABEL_VALUE", {"65535"})
      .reader = Reader::label;
  invalid("label_scaled.nii", "values", with(valid_spec(), [](FileSpec& s) { s.scl_slope = 2; }), "NIFTI_LABEL_SCALING",
          {"scl_slope 2"})
      .reader = Reader::label;
  invalid("label_named_hdr.hdr", "container", valid, "NIFTI_FILE_NAME", {".nii"}).memory_too = false;
  return cases;
}

// Valid tiny volumes (4 x 4 x 4) in every datatype, both byte orders, NIfTI-1 and -2, plain and
// gzip: the fuzzers' seed corpus together with malformed_corpus().
inline std::vector<std::pair<std::string, Bytes>> valid_seed_files() {
  std::vector<std::pair<std::string, Bytes>> files;
  for (int version : {1, 2})
    for (bool big_endian : {false, true})
      for (int datatype : allowed_datatypes()) {
        FileSpec s;
        s.version = version, s.big_endian = big_endian, s.datatype = datatype;
        s.dim = {3, 4, 4, 4, 1, 1, 1, 1};
        s.pixdim = {-1, 0.8, 0.8, 2.5, 1, 1, 1, 1};
        s.quatern_b = 0, s.quatern_c = 1, s.quatern_d = 0;  // 180 degrees about y
        s.scl_slope = datatype == kInt16 ? 0.5 : 1.0;
        s.data = Bytes(64 * static_cast<std::size_t>(datatype_bytes(datatype)));
        for (std::size_t index = 0; index < s.data.size(); ++index)
          s.data[index] = static_cast<unsigned char>(index * 29 + 7);
        if (datatype == kFloat32) s.data = encode(std::vector<float>(64, 1.25f), big_endian);
        if (datatype == kFloat64) s.data = encode(std::vector<double>(64, -2.5), big_endian);
        const std::string name =
            "seed_v" + std::to_string(version) + (big_endian ? "_be_" : "_le_") + std::to_string(datatype);
        const Bytes bytes = build(s);
        files.emplace_back(name + ".nii", bytes);
        files.emplace_back(name + ".nii.gz", gzip(bytes));
      }
  return files;
}

}  // namespace nnuc::testing::nifti
