// .npz files (data/export/npz.h): round trips of every dtype, numpy's header bytes, files written by
// np.savez_compressed and np.savez (fixtures from tests/data/fixtures/gen_export_fixtures.py), what
// numpy refuses or nnuc does not read, hostile archives (damaged headers, sizes that do not match,
// CRC damage, truncation, sizes that deflate cannot produce), atomic writes, and numpy reading what
// nnuc writes (/usr/bin/python3 with numpy; skipped outside CI when missing).
#include "data/export/npz.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/support/scratch_folder.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;
using testing::in_ci;
using testing::io_error_of;

fs::path fixtures() { return fs::path(__FILE__).parent_path() / "fixtures"; }

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A zip archive with the given raw members, written by libzip itself (not by write_npz).
void write_zip(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& members,
               zip_int32_t method = ZIP_CM_DEFLATE) {
  int code = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(zip, nullptr);
  for (const auto& [name, bytes] : members) {
    zip_source_t* source = zip_source_buffer(zip, bytes.data(), bytes.size(), 0);
    const zip_int64_t index = zip_file_add(zip, name.c_str(), source, 0);
    ASSERT_GE(index, 0);
    ASSERT_EQ(zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), method, 0), 0);
  }
  ASSERT_EQ(zip_close(zip), 0) << zip_strerror(zip);
}

// The raw bytes of one member.
std::string member_bytes(const fs::path& path, const std::string& name) {
  int code = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &code);
  EXPECT_NE(zip, nullptr);
  if (zip == nullptr) return {};
  zip_stat_t stat;
  zip_stat_init(&stat);
  EXPECT_EQ(zip_stat(zip, name.c_str(), 0, &stat), 0) << name;
  std::string bytes(static_cast<std::size_t>(stat.size), '\0');
  zip_file_t* file = zip_fopen(zip, name.c_str(), 0);
  EXPECT_EQ(zip_fread(file, bytes.data(), bytes.size()), static_cast<zip_int64_t>(bytes.size()));
  zip_fclose(file);
  zip_discard(zip);
  return bytes;
}

// A .npy member: magic, version, length, the dict padded to 64 bytes, then `data`.
std::string npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string text = dict;
  const std::size_t preamble = major == 1 ? 10 : 12;
  while ((preamble + text.size() + 1) % 64 != 0) text += ' ';
  text += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t length = text.size();
  out += static_cast<char>(length & 0xff);
  out += static_cast<char>((length >> 8) & 0xff);
  if (major != 1) {
    out += static_cast<char>((length >> 16) & 0xff);
    out += static_cast<char>((length >> 24) & 0xff);
  }
  return out + text + data;
}

// Random values stored as f16 or bf16.
template <typename Half, typename Convert>
Tensor random_half(const Shape& shape, Convert convert) {
  const std::vector<float> values = testing::random_uniform(shape, DType::f32, -10, 10).to_vector<float>();
  Tensor out = Tensor::empty_cpu(shape, dtype_of<Half>());
  for (std::size_t i = 0; i < values.size(); ++i) out.data<Half>()[i] = convert(values[i]);
  return out;
}

std::string f32_bytes(std::size_t count) {
  std::vector<float> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = 0.25f * static_cast<float>(i) - 3.0f;
  return std::string(reinterpret_cast<const char*>(values.data()), count * sizeof(float));
}

class Npz : public testing::ScratchFolderTest {};

TEST_F(Npz, RoundTripOfEveryDtypeAndRankKeepsValuesBitForBit) {
  std::vector<std::pair<std::string, Tensor>> arrays;
  arrays.emplace_back("probabilities", testing::random_uniform(Shape{3, 5, 7, 6}, DType::f32, 0.0, 1.0));
  arrays.emplace_back("f64", testing::random_uniform(Shape{4, 3}, DType::f64, -1e9, 1e9));
  arrays.emplace_back("f16", random_half<f16>(Shape{2, 3, 2}, float_to_f16));
  arrays.emplace_back("u8", testing::random_labels(Shape{9}, DType::u8, 256));
  arrays.emplace_back("i16", testing::random_labels(Shape{2, 2, 2, 2, 3}, DType::i16, 30000));
  arrays.emplace_back("i32", testing::random_labels(Shape{5, 1}, DType::i32, 1 << 30));
  arrays.emplace_back("i64", testing::random_labels(Shape{3}, DType::i64, 1 << 30));
  arrays.emplace_back("scalar", testing::random_uniform(Shape{}, DType::f32));
  arrays.emplace_back("empty", Tensor::empty_cpu(Shape{0, 4}, DType::f32));
  write_npz(path("case.npz"), arrays);
  std::vector<std::string> names;
  for (const auto& [name, tensor] : arrays) names.push_back(name);
  EXPECT_EQ(npz_members(path("case.npz")), names);
  for (const auto& [name, tensor] : arrays) {
    SCOPED_TRACE(name);
    const Tensor back = read_npz_array(path("case.npz"), name);
    EXPECT_EQ(back.dtype(), tensor.dtype());
    EXPECT_EQ(back.shape(), tensor.shape());
    if (tensor.bytes() > 0) {
      EXPECT_EQ(std::memcmp(back.raw(), tensor.raw(), tensor.bytes()), 0);
    }
    const Tensor as_f32 = read_npz_array(path("case.npz"), name + ".npy", {true});
    EXPECT_EQ(as_f32.dtype(), DType::f32);
    EXPECT_TRUE(testing::all_close(as_f32, testing::as_f32(tensor), 0, tensor.dtype() == DType::f64 ? 1e-7 : 0));
    // The member starts with exactly numpy's header for this dtype and shape.
    const std::string raw = member_bytes(path("case.npz"), name + ".npy");
    EXPECT_EQ(raw.substr(0, raw.size() - tensor.bytes()), npy_header(tensor.dtype(), tensor.shape()));
  }
  EXPECT_EQ(entries(), std::vector<std::string>{"case.npz"});  // no temp file left
}

// The bytes depend only on the arrays: two writes more than two seconds apart (the DOS clock's step)
// give the same file, and every member carries the fixed stamp 1980-01-01 00:00.
TEST_F(Npz, TheSameArraysGiveTheSameBytesWhenever) {
  const std::vector<std::pair<std::string, Tensor>> arrays = {
      {"probabilities", testing::random_uniform(Shape{3, 6, 5, 4}, DType::f32, 0.0, 1.0)},
      {"labels", testing::random_labels(Shape{6, 5, 4}, DType::u8, 3)}};
  write_npz(path("first.npz"), arrays);
  sleep(3);
  write_npz(path("second.npz"), arrays);
  EXPECT_EQ(read_bytes(path("second.npz")), read_bytes(path("first.npz")));
  int code = 0;
  zip_t* zip = zip_open(path("first.npz").c_str(), ZIP_RDONLY, &code);
  ASSERT_NE(zip, nullptr);
  for (zip_uint64_t i = 0; i < 2; ++i) {
    zip_stat_t stat;
    zip_stat_init(&stat);
    ASSERT_EQ(zip_stat_index(zip, i, 0, &stat), 0);
    ASSERT_TRUE(stat.valid & ZIP_STAT_MTIME);
    std::tm stamp{};
    localtime_r(&stat.mtime, &stamp);  // libzip reads DOS times as local time
    EXPECT_EQ(stamp.tm_year + 1900, 1980);
    EXPECT_EQ(stamp.tm_mon, 0);
    EXPECT_EQ(stamp.tm_mday, 1);
  }
  zip_discard(zip);
}

TEST_F(Npz, HeadersAreByteForByteThoseNumpyWrites) {
  const nlohmann::json expected = nlohmann::json::parse(read_bytes(fixtures() / "numpy_members.json"));
  const std::map<std::string, DType> writable = {{"<f4", DType::f32}, {"<f8", DType::f64}, {"<f2", DType::f16},
                                                 {"|u1", DType::u8},  {"<i2", DType::i16}, {"<i4", DType::i32},
                                                 {"<i8", DType::i64}};
  int compared = 0;
  for (const auto& [name, member] : expected["members"].items()) {
    const auto found = writable.find(member["descr"].get<std::string>());
    if (found == writable.end()) continue;
    const auto dims = member["shape"].get<std::vector<std::int64_t>>();
    Shape shape;
    if (dims.size() == 1) shape = Shape{dims[0]};
    if (dims.size() == 2) shape = Shape{dims[0], dims[1]};
    if (dims.size() == 3) shape = Shape{dims[0], dims[1], dims[2]};
    if (dims.size() == 5) shape = Shape{dims[0], dims[1], dims[2], dims[3], dims[4]};
    const std::string header = npy_header(found->second, shape);
    const std::string raw = member_bytes(fixtures() / "numpy_savez_compressed.npz", name + ".npy");
    EXPECT_EQ(raw.substr(0, header.size()), header) << name;
    ++compared;
  }
  EXPECT_GE(compared, 8);
}

TEST_F(Npz, ReadsWhatNumpySavezCompressedAndSavezWrite) {
  const nlohmann::json expected = nlohmann::json::parse(read_bytes(fixtures() / "numpy_members.json"));
  for (const char* file : {"numpy_savez_compressed.npz", "numpy_savez.npz"}) {
    const std::string npz = (fixtures() / file).string();
    std::vector<std::string> names;
    for (const auto& [name, member] : expected["members"].items()) names.push_back(name);
    std::vector<std::string> members = npz_members(npz);
    std::sort(members.begin(), members.end());
    EXPECT_EQ(members, names) << file;
    for (const auto& [name, member] : expected["members"].items()) {
      SCOPED_TRACE(std::string(file) + " " + name);
      const Tensor tensor = read_npz_array(npz, name);
      const auto dims = member["shape"].get<std::vector<std::int64_t>>();
      ASSERT_EQ(tensor.rank(), static_cast<int>(dims.size()));
      for (std::size_t axis = 0; axis < dims.size(); ++axis) EXPECT_EQ(tensor.dim(static_cast<int>(axis)), dims[axis]);
      const std::string descr = member["descr"];
      if (descr[1] == 'f') {
        const auto values = member["values"].get<std::vector<double>>();
        EXPECT_EQ(tensor.to_vector<double>(), values);
        const Tensor f32 = read_npz_array(npz, name, {true});
        const std::vector<float> floats = f32.to_vector<float>();
        for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(floats[i], static_cast<float>(values[i]));
      } else {
        EXPECT_EQ(tensor.to_vector<std::int64_t>(), member["values"].get<std::vector<std::int64_t>>());
      }
    }
  }
}

TEST_F(Npz, MembersNnucDoesNotReadAreIoErrorsNamingThem) {
  const std::string npz = (fixtures() / "numpy_rejected.npz").string();
  EXPECT_EQ(read_npz_array(npz, "good").to_vector<float>(), (std::vector<float>{0, 1, 2, 3}));
  const std::map<std::string, std::string> expected = {{"fortran", "fortran_order True"},
                                                       {"uint64", "dtype '<u8' is not supported"},
                                                       {"complex", "dtype '<c8' is not supported"},
                                                       {"object", "dtype '|O' is not supported"},
                                                       {"structured", "structured dtype"}};
  for (const auto& [name, text] : expected) {
    const std::string member = name;  // a structured binding cannot be captured in C++17
    const std::string message = io_error_of([&] { read_npz_array(npz, member); });
    EXPECT_NE(message.find(text), std::string::npos) << name << ": " << message;
    EXPECT_NE(message.find("'" + name + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(npz), std::string::npos) << message;
  }
  EXPECT_NE(io_error_of([&] { read_npz_array(npz, "absent"); }).find("has no member 'absent' (members: "),
            std::string::npos);
}

TEST_F(Npz, DamagedHeadersAndSizeMismatchesAreIoErrorsNamingFileAndMember) {
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  std::string v1_long = npy(good, f32_bytes(3));
  v1_long[8] = static_cast<char>(0xf4);  // header length 500 > the member
  v1_long[9] = 0x01;
  const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> cases = {
      {"bad_magic", {"\x93NUMPX" + npy(good, f32_bytes(3)).substr(6), "wrong magic"}},
      {"short", {std::string("\x93NUM", 4), "shorter than the 10-byte preamble"}},
      {"version", {npy(good, f32_bytes(3), 4), "format version 4.0"}},
      {"header_too_long", {npy(good + std::string(20000, ' '), f32_bytes(3), 2), "longer than the 10000"}},
      {"header_past_end", {v1_long, "runs past"}},
      {"not_a_dict", {npy("[1, 2]", f32_bytes(3)), "expected '{'"}},
      {"missing_key", {npy("{'descr': '<f4', 'shape': (3,), }", f32_bytes(3)), "needs the keys"}},
      {"extra_key",
       {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1, }", f32_bytes(3)),
        "unexpected or repeated key 'x'"}},
      {"repeated_key",
       {npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f32_bytes(3)),
        "repeated key 'descr'"}},
      {"negative_shape",
       {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", f32_bytes(3)), "non-negative integer"}},
      {"shape_overflow",
       {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999, 999999999999), }", f32_bytes(3)),
        "overflows"}},
      {"bad_bool", {npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,), }", f32_bytes(3)), "True or False"}},
      {"unterminated",
       {npy("{'descr': '<f4, 'fortran_order': False, 'shape': (3,), }", f32_bytes(3)), "expected ',' or '}'"}},
      {"trailing", {npy(good + " junk", f32_bytes(3)), "unexpected bytes after the dict"}},
      {"more_bytes", {npy(good, f32_bytes(4)), "needs 140 bytes but the member holds 144"}},
      {"fewer_bytes", {npy(good, f32_bytes(2)), "needs 140 bytes but the member holds 136"}},
      {"fortran", {npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }", f32_bytes(3)), "fortran_order"}},
      {"unicode", {npy("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", f32_bytes(3)), "'<U3'"}},
      {"object", {npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", f32_bytes(2)), "'|O'"}},
      {"wide_byte", {npy("{'descr': '|f4', 'fortran_order': False, 'shape': (3,), }", f32_bytes(3)), "'|f4'"}},
      {"rank_six",
       {npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 3), }", f32_bytes(3)), "rank 6"}},
  };
  std::vector<std::pair<std::string, std::string>> members;
  for (const auto& [name, content] : cases) members.emplace_back(name + ".npy", content.first);
  members.emplace_back("fine.npy", npy(good, f32_bytes(3)));
  for (zip_int32_t method : {ZIP_CM_DEFLATE, ZIP_CM_STORE}) {
    write_zip(path("hostile.npz"), members, method);
    EXPECT_EQ(read_npz_array(path("hostile.npz"), "fine").to_vector<float>(), (std::vector<float>{-3, -2.75, -2.5}));
    for (const auto& [name, content] : cases) {
      const std::string member = name;  // a structured binding cannot be captured in C++17
      const std::string message = io_error_of([&] { read_npz_array(path("hostile.npz"), member); });
      EXPECT_NE(message.find(content.second), std::string::npos) << name << ": " << message;
      EXPECT_NE(message.find("member '" + name + "'"), std::string::npos) << name << ": " << message;
      EXPECT_NE(message.find(path("hostile.npz")), std::string::npos) << name << ": " << message;
    }
  }
}

TEST_F(Npz, DamagedArchivesAreIoErrors) {
  const Tensor values = testing::random_uniform(Shape{64, 32}, DType::f32);
  write_npz(path("good.npz"), {{"probabilities", values}});
  const std::string bytes = read_bytes(path("good.npz"));

  EXPECT_NE(io_error_of([&] { read_npz_array(path("missing.npz"), "probabilities"); }).find("missing.npz"),
            std::string::npos);
  write_bytes(path("text.npz"), "this is not a zip archive at all, just some text");
  EXPECT_NE(io_error_of([&] { npz_members(path("text.npz")); }).find("cannot read .npz"), std::string::npos);
  for (std::size_t keep : {bytes.size() / 2, bytes.size() - 10, std::size_t{30}}) {
    write_bytes(path("truncated.npz"), bytes.substr(0, keep));
    EXPECT_NE(io_error_of([&] { read_npz_array(path("truncated.npz"), "probabilities"); }), "(no IoError thrown)")
        << keep;
  }

  // A damaged byte inside stored data: the CRC-32 check at the end of the member catches it.
  write_zip(path("stored.npz"),
            {{"probabilities.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (64,), }", f32_bytes(64))}},
            ZIP_CM_STORE);
  std::string stored = read_bytes(path("stored.npz"));
  const std::size_t magic = stored.find("\x93NUMPY");
  ASSERT_NE(magic, std::string::npos);
  stored[magic + 64 + 100] ^= 0x40;
  write_bytes(path("crc.npz"), stored);
  const std::string crc_message = io_error_of([&] { read_npz_array(path("crc.npz"), "probabilities"); });
  EXPECT_NE(crc_message.find("damaged data"), std::string::npos) << crc_message;
  EXPECT_NE(crc_message.find("member 'probabilities'"), std::string::npos) << crc_message;
}

TEST_F(Npz, SizesDeflateCannotProduceAndSizesAboveTheCapAreRefusedBeforeAllocating) {
  // A member whose zip headers claim ~2 GB from a few hundred compressed bytes (both the local and
  // the central header patched, so the archive is consistent): refused from the sizes alone.
  write_zip(path("bomb.npz"),
            {{"x.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", std::string(4000, '\0'))}});
  std::string bomb = read_bytes(path("bomb.npz"));
  const std::uint32_t claimed = 0x7ffffff0u;
  for (const auto& [signature, field] : {std::pair<std::string, std::size_t>{"PK\x03\x04", 22}, {"PK\x01\x02", 24}}) {
    const std::size_t at = bomb.find(signature);
    ASSERT_NE(at, std::string::npos);
    std::memcpy(bomb.data() + at + field, &claimed, 4);
  }
  write_bytes(path("bomb.npz"), bomb);
  const std::string bomb_message = io_error_of([&] { read_npz_array(path("bomb.npz"), "x"); });
  EXPECT_NE(bomb_message.find("more than deflate can expand to"), std::string::npos) << bomb_message;

  // A genuine, highly compressible 16 MiB member is read, unless the cap is lower.
  const Tensor zeros = Tensor::from_vector(Shape{4 << 20}, std::vector<float>(4 << 20, 0.0f));
  write_npz(path("zeros.npz"), {{"zeros", zeros}});
  EXPECT_LT(fs::file_size(path("zeros.npz")), std::uintmax_t{1} << 20);
  EXPECT_EQ(read_npz_array(path("zeros.npz"), "zeros").numel(), 4 << 20);
  NpzReadOptions capped;
  capped.max_bytes = 1 << 20;
  EXPECT_NE(io_error_of([&] { read_npz_array(path("zeros.npz"), "zeros", capped); }).find("exceed the limit"),
            std::string::npos);

  if (zip_compression_method_supported(ZIP_CM_BZIP2, 1)) {
    write_zip(path("bzip2.npz"),
              {{"x.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f32_bytes(3))}},
              ZIP_CM_BZIP2);
    EXPECT_NE(io_error_of([&] { read_npz_array(path("bzip2.npz"), "x"); }).find("compression method"),
              std::string::npos);
  }
}

TEST_F(Npz, WritesAreAtomicAndArgumentsChecked) {
  const Tensor first = testing::random_uniform(Shape{2, 3}, DType::f32);
  write_npz(path("case.npz"), {{"probabilities", first}});
  const std::string before = read_bytes(path("case.npz"));
  EXPECT_THROW(write_npz(path("case.npz"), {{"probabilities", random_half<bf16>(Shape{2}, float_to_bf16)}}),
               InvalidInput);
  EXPECT_THROW(write_npz(path("case.npz"), {{"a", first}, {"a", first}}), InvalidInput);
  EXPECT_THROW(write_npz(path("case.npz"), {{"a/b", first}}), InvalidInput);
  EXPECT_THROW(write_npz(path("case.npz"), {{"", first}}), InvalidInput);
  EXPECT_EQ(read_bytes(path("case.npz")), before);
  EXPECT_THROW(write_npz(path("no_such_folder/case.npz"), {{"probabilities", first}}), IoError);
  // Replacing the file swaps in the new archive whole.
  const Tensor second = testing::random_uniform(Shape{4, 5, 6}, DType::f32);
  write_npz(path("case.npz"), {{"probabilities", second}});
  EXPECT_EQ(read_npz_array(path("case.npz"), "probabilities").to_vector<float>(), second.to_vector<float>());
  EXPECT_EQ(entries(), std::vector<std::string>{"case.npz"});
}

TEST_F(Npz, NumpyReadsWhatNnucWrites) {
  const fs::path python = "/usr/bin/python3";
  if (!fs::exists(python)) {
    if (in_ci()) FAIL() << "CI needs " << python << " with python3-numpy";
    GTEST_SKIP() << "no " << python;
  }
  const Tensor probabilities = testing::random_uniform(Shape{3, 4, 5, 6}, DType::f32, 0, 1);
  const Tensor labels = testing::random_labels(Shape{7, 3}, DType::i16, 1000);
  const Tensor bytes = testing::random_labels(Shape{11}, DType::u8, 255);
  write_npz(path("case.npz"), {{"probabilities", probabilities}, {"labels", labels}, {"bytes", bytes}});
  const std::string script = path("check.py");
  write_bytes(script,
              "import json, sys\n"
              "try:\n    import numpy as np\nexcept ImportError:\n    sys.exit(3)\n"
              "z = np.load(sys.argv[1])\n"
              "print(json.dumps({k: {'dtype': z[k].dtype.str, 'shape': list(z[k].shape),\n"
              "                      'values': [float(v) for v in z[k].ravel()]} for k in z.files}))\n");
  const std::string output = path("numpy.json");
  const int status =
      std::system((python.string() + " '" + script + "' '" + path("case.npz") + "' > '" + output + "'").c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 3) {
    if (in_ci()) FAIL() << "python3-numpy missing in CI";
    GTEST_SKIP() << "python3 lacks numpy";
  }
  ASSERT_EQ(code, 0);
  const nlohmann::json loaded = nlohmann::json::parse(read_bytes(output));
  ASSERT_EQ(loaded.size(), 3u);
  EXPECT_EQ(loaded["probabilities"]["dtype"], "<f4");
  EXPECT_EQ(loaded["probabilities"]["shape"], nlohmann::json({3, 4, 5, 6}));
  EXPECT_EQ(loaded["probabilities"]["values"].get<std::vector<double>>(), probabilities.to_vector<double>());
  EXPECT_EQ(loaded["labels"]["dtype"], "<i2");
  EXPECT_EQ(loaded["labels"]["values"].get<std::vector<double>>(), labels.to_vector<double>());
  EXPECT_EQ(loaded["bytes"]["dtype"], "|u1");
  EXPECT_EQ(loaded["bytes"]["values"].get<std::vector<double>>(), bytes.to_vector<double>());
}

}  // namespace
}  // namespace nnuc::data
