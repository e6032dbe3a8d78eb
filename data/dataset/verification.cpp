#include "data/dataset/verification.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>

#include "data/dataset/atomic_file.h"
#include "data/dataset/raw_dataset.h"
#include "data/dataset/verification_internal.h"
#include "kernels/core/error.h"

namespace nnuc::data {

namespace fs = std::filesystem;

// ---- report -------------------------------------------------------------------------------------------

nlohmann::ordered_json VerificationReport::to_json() const {
  nlohmann::ordered_json out;
  out["dataset"] = dataset_folder;
  out["ok"] = ok();
  out["errors"] = num_errors();
  out["warnings"] = num_warnings();
  out["num_training"] = num_training_declared;
  out["cases_found"] = num_cases_found;
  out["cases_read"] = num_cases_read;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const Problem& problem : problems) list.push_back(problem_to_json(problem));
  out["problems"] = list;
  return out;
}

std::string VerificationReport::summary(std::size_t max_lines) const {
  std::string text;
  std::size_t shown = 0;
  for (Severity severity : {Severity::error, Severity::warning}) {
    for (const Problem& problem : problems) {
      if (problem.severity != severity) continue;
      if (shown++ < max_lines) text += problem_to_string(problem) + "\n";
    }
  }
  if (shown > max_lines) text += "... and " + std::to_string(shown - max_lines) + " more (see the JSON report)\n";
  text += dataset_folder + ": " + std::to_string(num_cases_found) + " training case(s) found, " +
          std::to_string(num_cases_read) + " read; " + std::to_string(num_errors()) + " error(s), " +
          std::to_string(num_warnings()) + " warning(s): " + (ok() ? "dataset OK" : "dataset NOT OK") + "\n";
  return text;
}

std::vector<Problem> VerificationReport::with_code(const std::string& code) const {
  std::vector<Problem> out;
  for (const Problem& problem : problems) {
    if (problem.code == code) out.push_back(problem);
  }
  return out;
}

// ---- verification -------------------------------------------------------------------------------------

VerificationReport verify_dataset(const std::string& dataset_folder, const VerifyOptions& options) {
  NNUC_CHECK(options.threads >= 0, "verify: threads = ", options.threads, ": expected >= 0");
  VerificationReport report;
  report.dataset_folder = dataset_folder;
  detail::LayoutCheck layout = detail::check_layout(dataset_folder, options);
  report.problems = std::move(layout.problems);
  report.num_cases_found = layout.cases.size();
  if (layout.json) report.num_training_declared = layout.json->num_training;
  if (!layout.can_check_cases) return report;

  const std::size_t total = layout.cases.size();
  std::vector<std::vector<Problem>> per_case(total);
  std::atomic<std::size_t> next{0};
  std::size_t done = 0;
  std::mutex progress_mutex;
  std::exception_ptr failure;
  auto worker = [&]() {
    for (std::size_t index = next++; index < total; index = next++) {
      try {
        per_case[index] = detail::check_case_content(layout.cases[index], layout.allowed_labels, options.read_options);
      } catch (...) {  // check_case_content reports file problems itself; anything else is a bug or OOM
        std::lock_guard<std::mutex> lock(progress_mutex);
        if (!failure) failure = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(progress_mutex);
      ++done;
      if (options.progress) options.progress(done, total);
    }
  };
  unsigned threads = options.threads > 0 ? static_cast<unsigned>(options.threads)
                                         : std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, total));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);

  for (std::vector<Problem>& problems : per_case) {
    report.problems.insert(report.problems.end(), std::make_move_iterator(problems.begin()),
                           std::make_move_iterator(problems.end()));
  }
  report.num_cases_read = total;
  return report;
}

// ---- verification record ------------------------------------------------------------------------------

namespace {

class Fnv1a64 {
 public:
  void add(const std::string& bytes) {
    for (unsigned char c : bytes) {
      hash_ ^= c;
      hash_ *= 0x100000001b3ull;
    }
    // A separator, so that ("ab", "c") and ("a", "bc") hash differently.
    hash_ ^= 0xff;
    hash_ *= 0x100000001b3ull;
  }
  std::string hex() const {
    char buffer[17];
    std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(hash_));
    return buffer;
  }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ull;
};

void add_file_state(Fnv1a64& hash, const fs::path& path, const std::string& name) {
  std::error_code error;
  hash.add(name);
  const bool regular = fs::is_regular_file(path, error);
  hash.add(regular ? std::to_string(fs::file_size(path, error)) : "-");
  const auto time = fs::last_write_time(path, error);
  hash.add(error ? "-" : std::to_string(time.time_since_epoch().count()));
}

}  // namespace

std::string dataset_state_hash(const std::string& dataset_folder) {
  const fs::path folder(dataset_folder);
  const std::string json_text = read_file_text((folder / "dataset.json").string());
  Fnv1a64 hash;
  hash.add(json_text);
  for (const char* sub : {"imagesTr", "labelsTr"}) {
    std::error_code error;
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(folder / sub, error)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    hash.add(std::string(sub) + ":" + std::to_string(names.size()));
    for (const std::string& name : names) add_file_state(hash, folder / sub / name, name);
  }
  // Files named by a "dataset" dict (they may live outside the folder).
  const DatasetJsonParse parsed = parse_dataset_json_collect(json_text, (folder / "dataset.json").string());
  if (parsed.json && parsed.json->dataset && parsed.file_ending_ok) {
    for (const RawCase& raw_case : find_training_cases(dataset_folder, *parsed.json)) {
      for (const std::string& image : raw_case.images) add_file_state(hash, image, image);
      add_file_state(hash, raw_case.label, raw_case.label);
    }
  }
  return hash.hex();
}

void write_verification_record(const std::string& dataset_folder, const VerificationReport& report) {
  nlohmann::ordered_json record;
  record["format"] = "nnuc-dataset-verification/1";
  record["state_hash"] = dataset_state_hash(dataset_folder);
  record["ok"] = report.ok();
  record["verified_at_unix"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  record["report"] = report.to_json();
  write_file_atomic((fs::path(dataset_folder) / kVerificationRecordName).string(), record.dump(2) + "\n");
}

VerificationStatus verification_status(const std::string& dataset_folder) {
  const std::string path = (fs::path(dataset_folder) / kVerificationRecordName).string();
  std::error_code error;
  if (!fs::exists(path, error))
    return {false, "not verified: no " + path + " (run `nnuc verify -i " + dataset_folder + "`)"};
  try {
    const nlohmann::json record = nlohmann::json::parse(read_file_text(path));
    if (record.value("format", "") != "nnuc-dataset-verification/1")
      return {false, "unreadable verification record " + path};
    if (!record.value("ok", false)) {
      const auto errors = record.contains("report") ? record["report"].value("errors", 0) : 0;
      return {false, "the last verification found " + std::to_string(errors) + " error(s) (" + path + ")"};
    }
    if (record.value("state_hash", "") != dataset_state_hash(dataset_folder)) {
      return {false, "the dataset changed since it was verified (dataset.json or case files); run `nnuc verify` again"};
    }
    return {true, ""};
  } catch (const std::exception& e) {
    return {false, "unreadable verification record " + path + ": " + e.what()};
  }
}

bool dataset_verified(const std::string& dataset_folder) { return verification_status(dataset_folder).verified; }

}  // namespace nnuc::data
