// The preprocessed store (data/README.md "Preprocessed store"): round trip, memory mapping, damage
// detection (flipped bytes anywhere, truncation, foreign files), lazy verification, atomic writes.
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "data/preprocess/store.h"
#include "tests/support/test_support.h"

namespace nnuc::data {
namespace {

namespace fs = std::filesystem;

class PreprocessStore : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() / ("nnuc_store_" + std::to_string(testing::rng()()));
    fs::create_directories(folder_);
  }
  void TearDown() override {
    testing_only::fail_store_writes_after(-1);
    fs::remove_all(folder_);
  }

  static PreprocessedCase make_case(bool with_locations = true) {
    PreprocessedCase c;
    c.identifier = "case_042";
    c.data = testing::random_uniform(Shape{2, 7, 9, 11}, DType::f32, -3, 3);
    c.seg = testing::random_labels(Shape{7, 9, 11}, DType::i16, 4);
    c.properties.spacing = {0.7, 0.7, 2.5};
    c.properties.shape_before_cropping = {30, 20, 25};
    c.properties.bbox_used_for_cropping = {{3, 4, 5}, {20, 18, 24}};
    c.properties.shape_after_cropping_and_before_resampling = {17, 14, 19};
    c.properties.spacing_after_resampling = {2.5, 1.0, 1.0};
    c.properties.has_class_locations = with_locations;
    if (with_locations) {
      ClassLocations one, region, annotated;
      one.key.labels = {1};
      one.voxels = {{0, 1, 2}, {6, 8, 10}, {3, 3, 3}};
      region.key.labels = {2, 3};
      region.key.is_region = true;
      annotated.key.labels = {-1, 0, 1, 2, 3};
      annotated.key.is_region = true;
      annotated.voxels = {{1, 1, 1}};
      c.properties.class_locations = {one, region, annotated};
    }
    c.properties.reader_properties = {{"affine", {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}}, {"name", "x"}};
    return c;
  }

  std::string path(const std::string& name = "case_042.nnuc") const { return (folder_ / name).string(); }

  static std::string read_bytes(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void write_bytes(const std::string& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  // Writes make_case() to path() with one bit of the seg array's byte `at` flipped by `mask`.
  void write_case_with_damaged_seg(std::size_t at, int mask) const {
    write_preprocessed_case(path(), make_case());
    std::string bytes = read_bytes(path());
    std::uint32_t header_bytes;
    std::memcpy(&header_bytes, bytes.data() + 12, 4);
    const nlohmann::json header = nlohmann::json::parse(bytes.substr(32, header_bytes));
    const auto seg_offset = header["arrays"][1]["offset"].get<std::size_t>();
    bytes[seg_offset + at] = static_cast<char>(bytes[seg_offset + at] ^ mask);
    write_bytes(path(), bytes);
  }

  // Expects opening (and touching every array) to fail with IoError naming the file and `what`.
  void expect_damaged(const std::string& file, const std::string& what, StoreVerification verification) {
    try {
      PreprocessedCaseFile opened = PreprocessedCaseFile::open(file, verification);
      opened.data();
      opened.seg();
      ADD_FAILURE() << "damage not detected (" << what << ")";
    } catch (const IoError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(file), std::string::npos) << message;
      EXPECT_NE(message.find(what), std::string::npos) << message;
    }
  }

  fs::path folder_;
};

TEST_F(PreprocessStore, RoundTripsEverythingThroughAMappedFile) {
  const PreprocessedCase c = make_case();
  write_preprocessed_case(path(), c);
  const PreprocessedCaseFile file = PreprocessedCaseFile::open(path());
  EXPECT_EQ(file.identifier(), "case_042");
  const StoredArray data = file.data();
  EXPECT_EQ(data.shape, c.data.shape());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(data.data) % kStoreAlignment, 0u);
  EXPECT_EQ(std::vector<float>(data.as<float>(), data.as<float>() + c.data.numel()), c.data.to_vector<float>());
  EXPECT_EQ(file.load_seg().to_vector<std::int16_t>(), c.seg.to_vector<std::int16_t>());
  const CaseProperties& p = file.properties();
  EXPECT_EQ(p.spacing, c.properties.spacing);
  EXPECT_EQ(p.shape_before_cropping, c.properties.shape_before_cropping);
  EXPECT_EQ(p.bbox_used_for_cropping, c.properties.bbox_used_for_cropping);
  EXPECT_EQ(p.shape_after_cropping_and_before_resampling, c.properties.shape_after_cropping_and_before_resampling);
  EXPECT_EQ(p.spacing_after_resampling, c.properties.spacing_after_resampling);
  EXPECT_EQ(p.reader_properties, c.properties.reader_properties);
  ASSERT_TRUE(p.has_class_locations);
  ASSERT_EQ(p.class_locations.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(p.class_locations[k].key, c.properties.class_locations[k].key);
    EXPECT_EQ(p.class_locations[k].voxels, c.properties.class_locations[k].voxels);
  }
  EXPECT_THROW(data.as<std::int16_t>(), InvalidInput);

  // Without labels: no class locations, and the header says so.
  write_preprocessed_case(path("test_case.nnuc"), make_case(false));
  EXPECT_FALSE(PreprocessedCaseFile::open(path("test_case.nnuc")).properties().has_class_locations);
}

TEST_F(PreprocessStore, FileFollowsTheDocumentedLayout) {
  write_preprocessed_case(path(), make_case());
  const std::string bytes = read_bytes(path());
  ASSERT_GE(bytes.size(), kStorePrefixBytes);
  EXPECT_EQ(bytes.substr(0, 8), "NNUCPREP");
  std::uint32_t version, header_bytes, header_crc;
  std::uint64_t length;
  std::memcpy(&version, bytes.data() + 8, 4);
  std::memcpy(&header_bytes, bytes.data() + 12, 4);
  std::memcpy(&length, bytes.data() + 16, 8);
  std::memcpy(&header_crc, bytes.data() + 24, 4);
  EXPECT_EQ(version, 1u);
  EXPECT_EQ(length, bytes.size());
  // zlib's crc32 over bytes 0..23 then the header, as data/README.md says.
  uLong crc = ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), 24);
  crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + 32), header_bytes);
  EXPECT_EQ(header_crc, static_cast<std::uint32_t>(crc));
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(32, header_bytes));
  EXPECT_EQ(header["format"], "nnuc-preprocessed-case");
  ASSERT_EQ(header["arrays"].size(), 3u);
  for (const auto& array : header["arrays"]) {
    const auto offset = array["offset"].get<std::size_t>();
    const auto size = array["bytes"].get<std::size_t>();
    EXPECT_EQ(offset % 64, 0u);
    EXPECT_EQ(array["crc32"].get<std::uint32_t>(),
              static_cast<std::uint32_t>(
                  ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data() + offset), static_cast<uInt>(size))));
  }
  EXPECT_EQ(header["arrays"][0]["shape"], (nlohmann::json{2, 7, 9, 11}));
  EXPECT_EQ(header["arrays"][2]["shape"], (nlohmann::json{4, 3}));
  EXPECT_EQ(header["properties"]["class_locations"][0]["count"], 3);
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);  // the CRC-32 check value
}

TEST_F(PreprocessStore, EveryFlippedByteIsDetected) {
  write_preprocessed_case(path(), make_case());
  const std::string good = read_bytes(path());
  std::uint32_t header_bytes;
  std::memcpy(&header_bytes, good.data() + 12, 4);
  const nlohmann::json header = nlohmann::json::parse(good.substr(32, header_bytes));
  // One position in each region: magic, version, length field, prefix CRC, header text, each array.
  std::vector<std::pair<std::size_t, std::string>> positions{
      {2, "magic"}, {8, "version"}, {17, ""}, {25, "header is damaged"}, {40, "header is damaged"}};
  std::size_t previous_end = 32 + header_bytes;
  for (const auto& array : header["arrays"]) {
    const auto offset = array["offset"].get<std::size_t>();
    const auto size = array["bytes"].get<std::size_t>();
    const std::string name = array["name"].get<std::string>();
    positions.push_back({offset, "array '" + name + "' is damaged"});
    positions.push_back({offset + size - 1, "array '" + name + "' is damaged"});
    positions.push_back({offset + std::uniform_int_distribution<std::size_t>(0, size - 1)(testing::rng()),
                         "array '" + name + "' is damaged"});
    if (offset > previous_end) positions.push_back({offset - 1, "padding byte"});  // zero padding is checked too
    previous_end = offset + size;
  }
  for (const auto& [position, what] : positions) {
    for (StoreVerification verification : {StoreVerification::full, StoreVerification::lazy}) {
      std::string bad = good;
      bad[position] = static_cast<char>(bad[position] ^ (1 << (position % 8)));
      write_bytes(path("bad.nnuc"), bad);
      SCOPED_TRACE("byte " + std::to_string(position));
      expect_damaged(path("bad.nnuc"), what, verification);
    }
  }
}

TEST_F(PreprocessStore, TruncationTrailingBytesAndForeignFilesAreReported) {
  write_preprocessed_case(path(), make_case());
  const std::string good = read_bytes(path());
  for (std::size_t keep :
       {std::size_t{0}, std::size_t{10}, std::size_t{31}, std::size_t{200}, good.size() / 2, good.size() - 1}) {
    write_bytes(path("short.nnuc"), good.substr(0, keep));
    SCOPED_TRACE("kept " + std::to_string(keep));
    expect_damaged(path("short.nnuc"), "truncated", StoreVerification::lazy);
  }
  write_bytes(path("long.nnuc"), good + "xx");
  expect_damaged(path("long.nnuc"), "trailing bytes", StoreVerification::full);
  write_bytes(path("foreign.nnuc"), std::string(4096, 'a'));
  expect_damaged(path("foreign.nnuc"), "not an nnuc preprocessed case", StoreVerification::full);
  EXPECT_THROW(PreprocessedCaseFile::open(path("missing.nnuc")), IoError);
}

TEST_F(PreprocessStore, LazyVerificationChecksOnFirstAccess) {
  write_case_with_damaged_seg(3, 0x10);
  EXPECT_THROW(PreprocessedCaseFile::open(path(), StoreVerification::full), IoError);
  const PreprocessedCaseFile lazy = PreprocessedCaseFile::open(path(), StoreVerification::lazy);
  EXPECT_NO_THROW(lazy.data());       // intact
  EXPECT_THROW(lazy.seg(), IoError);  // damaged: reported on access,
  EXPECT_THROW(lazy.seg(), IoError);  // every time
  EXPECT_THROW(lazy.verify(), IoError);
}

// Loader workers read the arrays of one open case file side by side: the first read of an array checks
// its CRC once for all threads, and a damaged array throws on every read in every thread (none blocks).
TEST_F(PreprocessStore, LazyChecksHoldOnSeveralThreadsAndADamagedArrayThrowsInEach) {
  write_case_with_damaged_seg(1, 0x04);
  const PreprocessedCaseFile lazy = PreprocessedCaseFile::open(path(), StoreVerification::lazy);
  const PreprocessedCaseFile other = PreprocessedCaseFile::open(path(), StoreVerification::lazy);
  const StoredArray reference_array = other.data();  // points into `other`'s mapping
  const std::string reference(static_cast<const char*>(reference_array.data), reference_array.bytes);
  ASSERT_FALSE(reference.empty());
  constexpr int kThreads = 4, kReads = 3;
  std::atomic<int> thrown{0}, intact{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < kReads; ++r) {
        try {
          (void)lazy.seg();
        } catch (const IoError& e) {
          if (std::string(e.what()).find("array 'seg' is damaged") != std::string::npos) ++thrown;
        }
        const StoredArray read = lazy.data();
        if (read.bytes == reference.size() && std::memcmp(read.data, reference.data(), read.bytes) == 0) ++intact;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(thrown.load(), kThreads * kReads);
  EXPECT_EQ(intact.load(), kThreads * kReads);
}

TEST_F(PreprocessStore, WritesAreAtomic) {
  const PreprocessedCase first = make_case();
  write_preprocessed_case(path(), first);
  const std::string before = read_bytes(path());
  // A write that fails half way leaves the previous file untouched and no temp file behind.
  PreprocessedCase second = make_case();
  for (std::int64_t limit : {0, 20, 700, 3000}) {
    testing_only::fail_store_writes_after(limit);
    EXPECT_THROW(write_preprocessed_case(path(), second), IoError);
    EXPECT_EQ(read_bytes(path()), before);
    EXPECT_EQ(std::distance(fs::directory_iterator(folder_), fs::directory_iterator{}), 1);
  }
  testing_only::fail_store_writes_after(-1);
  // A failed rename (the target is a folder) also leaves nothing behind.
  fs::create_directories(folder_ / "taken.nnuc" / "inside");
  EXPECT_THROW(write_preprocessed_case(path("taken.nnuc"), second), IoError);
  EXPECT_EQ(std::distance(fs::directory_iterator(folder_), fs::directory_iterator{}), 2);
  // A successful rewrite replaces the file as a whole.
  write_preprocessed_case(path(), second);
  EXPECT_EQ(PreprocessedCaseFile::open(path()).load_data().to_vector<float>(), second.data.to_vector<float>());
  EXPECT_THROW(write_preprocessed_case(path("bad.nnuc"), PreprocessedCase{}), InvalidInput);
}

}  // namespace
}  // namespace nnuc::data
