// Writing a synthetic dataset to disk (write_synthetic_dataset in synth.h).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>

#include "data/dataset/atomic_file.h"
#include "data/nifti/nifti_io.h"
#include "data/synth/synth.h"
#include "kernels/core/error.h"

namespace nnuc::data::synth {

namespace fs = std::filesystem;

namespace {

std::string channel_file(const std::string& folder, const std::string& id, int channel, const std::string& ending) {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%04d", channel);
  return (fs::path(folder) / (id + suffix + ending)).string();
}

// A folder we may fill: absent, empty, or a dataset that nnuc synth wrote before (its dataset.json
// carries "nnuc_synth"); then its case folders and dataset.json are removed first, so that no case
// of an earlier, larger run survives.
void prepare_folder(const fs::path& folder) {
  std::error_code error;
  if (fs::exists(folder, error) && !fs::is_empty(folder, error)) {
    const fs::path json = folder / "dataset.json";
    bool ours = false;
    if (fs::exists(json, error)) {
      try {
        ours = nlohmann::json::parse(read_file_text(json.string())).contains("nnuc_synth");
      } catch (const std::exception&) {
        ours = false;
      }
    }
    NNUC_CHECK(ours, "synth: output folder '", folder.string(),
               "' is not empty and was not written by nnuc synth: expected a new or empty folder");
    fs::remove(json, error);
    for (const char* sub : {"imagesTr", "labelsTr", "imagesTs", "labelsTs"}) fs::remove_all(folder / sub, error);
    fs::remove(folder / "nnuc_verification.json", error);
  }
}

}  // namespace

void write_synthetic_dataset(const SynthConfig& config, const std::string& dataset_folder,
                             const std::function<void(int, int)>& progress) {
  validate_synth_config(config);
  const fs::path folder(dataset_folder);
  prepare_folder(folder);
  std::error_code error;
  std::vector<std::string> subs = {"imagesTr", "labelsTr"};
  if (config.num_test_cases > 0) {
    subs.push_back("imagesTs");
    subs.push_back("labelsTs");
  }
  for (const std::string& sub : subs) {
    fs::create_directories(folder / sub, error);
    if (error) NNUC_THROW(IoError, "cannot create '", (folder / sub).string(), "': ", error.message());
  }

  const int total = config.num_cases + config.num_test_cases;
  std::atomic<int> next{0};
  int done = 0;
  std::mutex mutex;
  std::exception_ptr failure;
  auto worker = [&]() {
    for (int job = next++; job < total; job = next++) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (failure) return;
      }
      try {
        const bool test_case = job >= config.num_cases;
        const int index = test_case ? job - config.num_cases : job;
        const SynthCase synthetic = generate_synthetic_case(config, index, test_case);
        const CaseGeometryPlan& plan = synthetic.geometry;
        // NIfTI world (x, y, z) = (i, j, k) axes; plan.origin is in array order (a0, a1, a2) = (k, j, i).
        const NiftiGeometry geometry =
            make_nifti_geometry(plan.shape, plan.spacing, {plan.origin[2], plan.origin[1], plan.origin[0]},
                                {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
        const std::string images = (folder / (test_case ? "imagesTs" : "imagesTr")).string();
        for (std::size_t c = 0; c < synthetic.channels.size(); ++c) {
          write_nifti_image(channel_file(images, synthetic.id, static_cast<int>(c), config.file_ending),
                            synthetic.channels[c], geometry);
        }
        // Test cases keep their reference in labelsTs/ (held out from training: `nnuc evaluate` scores
        // predictions of imagesTs/ against it).
        write_nifti_label(
            (folder / (test_case ? "labelsTs" : "labelsTr") / (synthetic.id + config.file_ending)).string(),
            synthetic.label, geometry);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      ++done;
      if (progress) progress(done, total);
    }
  };
  unsigned threads =
      config.threads > 0 ? static_cast<unsigned>(config.threads) : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::max(1, std::min<int>(static_cast<int>(threads), total)));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
  save_dataset_json((folder / "dataset.json").string(), synthetic_dataset_json(config));
}

}  // namespace nnuc::data::synth
