// The malformed-NIfTI corpus (reliability.md T1) through read_nifti / read_nifti_label, from
// files generated into the build folder and from memory: expected error code and message parts
// (or acceptance with the expected warning), no crash, and a bound on the memory taken before a
// rejection (CPU allocator peak and peak RSS).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "data/nifti/nifti_io.h"
#include "kernels/core/allocator.h"
#include "tests/data/nifti_corpus.h"

namespace {

namespace fs = std::filesystem;
using namespace nnuc::testing::nifti;
using nnuc::data::NiftiReadOptions;

constexpr long kRejectionMemoryBoundKiB = 16 * 1024;  // T1: extra peak RSS <= 16 MiB when rejected

// Peak resident memory: /proc/self/clear_refs resets VmHWM to the current RSS (Linux).
class PeakRss {
 public:
  bool reset() {
    std::ofstream clear("/proc/self/clear_refs");
    if (!clear) return false;
    clear << "5";
    clear.close();
    return static_cast<bool>(clear) && read("VmHWM:", start_kib_);
  }
  long increase_kib() const {
    long peak = 0;
    return read("VmHWM:", peak) ? peak - start_kib_ : -1;
  }

 private:
  static bool read(const char* key, long& kib) {
    std::ifstream status("/proc/self/status");
    std::string word;
    while (status >> word)
      if (word == key) return static_cast<bool>(status >> kib);
    return false;
  }
  long start_kib_ = 0;
};

struct Result {
  Outcome outcome = Outcome::accept;
  std::string message;
  std::vector<std::string> warnings;
  std::vector<float> values;
};

Result run(const CorpusCase& c, const std::string* path) {
  NiftiReadOptions options;
  options.max_bytes = c.max_bytes;
  options.reject_negative_pixdim = c.reject_negative_pixdim;
  options.reject_non_finite = c.reject_non_finite;
  Result result;
  try {
    if (c.reader == Reader::label) {
      const auto label =
          path ? nnuc::data::read_nifti_label(*path, options)
               : nnuc::data::read_nifti_label_from_memory(c.bytes.data(), c.bytes.size(), c.name, options);
      result.warnings = label.warnings;
      result.values = label.labels.to_vector<float>();
    } else {
      const auto image = path ? nnuc::data::read_nifti(*path, options)
                              : nnuc::data::read_nifti_from_memory(c.bytes.data(), c.bytes.size(), c.name, options);
      result.warnings = image.warnings;
      result.values = image.voxels.to_vector<float>();
    }
  } catch (const nnuc::InvalidInput& error) {
    result.outcome = Outcome::invalid_input;
    result.message = error.what();
  } catch (const nnuc::IoError& error) {
    result.outcome = Outcome::io_error;
    result.message = error.what();
  }
  return result;
}

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::accept: return "accept";
    case Outcome::io_error: return "IoError";
    case Outcome::invalid_input: return "InvalidInput";
  }
  return "?";
}

void check(const CorpusCase& c, const Result& r, const std::string& where) {
  SCOPED_TRACE(c.name + " (" + c.category + ", " + where + ")");
  ASSERT_EQ(outcome_name(r.outcome), std::string(outcome_name(c.outcome))) << "message: " << r.message;
  if (c.outcome != Outcome::accept) {
    EXPECT_NE(r.message.find(c.code + ":"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(c.name), std::string::npos) << "the message must name the file: " << r.message;
    for (const std::string& part : c.parts) {
      EXPECT_NE(r.message.find(part), std::string::npos) << part << " in: " << r.message;
    }
    return;
  }
  if (!c.code.empty()) {
    bool found = false;
    for (const std::string& warning : r.warnings) found = found || warning.rfind(c.code + ":", 0) == 0;
    EXPECT_TRUE(found) << "expected warning " << c.code;
  }
  if (!c.expected.empty()) {
    EXPECT_EQ(r.values, c.expected);
  }
}

struct Summary {
  int accepted = 0, rejected = 0;
  double slowest_seconds = 0;
  long worst_rss_kib = 0;
  std::size_t worst_allocator_bytes = 0;
};

void run_corpus(bool from_files) {
  const std::vector<CorpusCase> cases = malformed_corpus();
  // In the temp folder; kept after a failure for inspection, removed otherwise.
  const fs::path folder = fs::temp_directory_path() / ("nnuc_" + std::to_string(getpid()) + "_nifti_malformed_corpus");
  if (from_files) {
    fs::remove_all(folder);
    fs::create_directories(folder);
  }
  PeakRss rss;
  nnuc::Allocator& host = nnuc::allocator_for(nnuc::Device::CPU);
  Summary summary;
  bool rss_available = true;
  for (const CorpusCase& c : cases) {
    if (!from_files && !c.memory_too) continue;
    std::string path;
    if (from_files) {
      path = (folder / c.name).string();
      std::ofstream out(path, std::ios::binary);
      out.write(reinterpret_cast<const char*>(c.bytes.data()), static_cast<std::streamsize>(c.bytes.size()));
      ASSERT_TRUE(static_cast<bool>(out)) << path;
    }
    host.reset_peak();
    const std::size_t host_before = host.stats().current_bytes;
    rss_available = rss.reset() && rss_available;
    const auto start = std::chrono::steady_clock::now();
    const Result result = run(c, from_files ? &path : nullptr);
    // Reported, not asserted (no timed assertions): a hang fails through the test's CTest timeout.
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    check(c, result, from_files ? "file" : "memory");
    summary.slowest_seconds = std::max(summary.slowest_seconds, seconds);
    if (result.outcome == Outcome::accept) {
      ++summary.accepted;
      continue;
    }
    ++summary.rejected;
    const std::size_t allocator_increase = host.stats().peak_bytes - host_before;
    EXPECT_LE(allocator_increase, std::size_t{kRejectionMemoryBoundKiB} * 1024) << c.name;
    summary.worst_allocator_bytes = std::max(summary.worst_allocator_bytes, allocator_increase);
    if (rss_available) {
      const long increase = rss.increase_kib();
      EXPECT_LE(increase, kRejectionMemoryBoundKiB) << c.name;
      summary.worst_rss_kib = std::max(summary.worst_rss_kib, increase);
    }
  }
  std::printf(
      "[ corpus   ] %s: %d rejected as expected, %d accepted as expected; slowest %.1f ms; worst extra "
      "memory before a rejection: allocator %zu bytes, peak RSS %s\n",
      from_files ? "files" : "memory", summary.rejected, summary.accepted, summary.slowest_seconds * 1e3,
      summary.worst_allocator_bytes,
      rss_available ? (std::to_string(summary.worst_rss_kib) + " KiB").c_str() : "not measurable here");
  if (from_files && !::testing::Test::HasFailure()) fs::remove_all(folder);
}

TEST(NiftiMalformed, CorpusCoversEveryT1Category) {
  const std::vector<CorpusCase> cases = malformed_corpus();
  std::map<std::string, int> per_category;
  std::set<std::string> names;
  int rejections = 0;
  for (const CorpusCase& c : cases) {
    ++per_category[c.category];
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case " << c.name;
    rejections += c.outcome != Outcome::accept;
  }
  EXPECT_GE(cases.size(), 80u);
  EXPECT_GE(rejections, 60);
  for (const char* category : {"container", "identity", "dims", "datatype", "offsets", "geometry", "values"})
    EXPECT_GE(per_category[category], 5) << category;
}

TEST(NiftiMalformed, EveryCaseFromAFile) { run_corpus(true); }

TEST(NiftiMalformed, EveryCaseFromMemory) { run_corpus(false); }

TEST(NiftiMalformed, HeaderValidationAloneRejectsHeaderFaults) {
  // validate_nifti_header (the fuzzers' first target) sees the same faults as the full read.
  for (const CorpusCase& c : malformed_corpus()) {
    const bool gzip = c.bytes.size() >= 2 && c.bytes[0] == 0x1f && c.bytes[1] == 0x8b;
    if (c.outcome != Outcome::io_error || gzip || !c.memory_too) continue;
    SCOPED_TRACE(c.name);
    NiftiReadOptions options;
    options.max_bytes = c.max_bytes;
    options.reject_negative_pixdim = c.reject_negative_pixdim;
    try {
      (void)nnuc::data::validate_nifti_header(c.bytes.data(), c.bytes.size(), c.name, options);
      ADD_FAILURE() << "accepted";
    } catch (const nnuc::IoError& error) {
      EXPECT_NE(std::string(error.what()).find(c.code + ":"), std::string::npos) << error.what();
    }
  }
}

}  // namespace
