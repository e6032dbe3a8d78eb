#include "data/dataset/msd_conversion.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "data/dataset/atomic_file.h"
#include "data/nifti/nifti_io.h"
#include "kernels/core/error.h"

namespace nnuc::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMsdEnding = ".nii.gz";

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The .nii.gz files of an MSD folder that are not junk (names starting with '.' or '_'), sorted.
std::vector<std::string> msd_files(const std::string& folder) {
  std::vector<std::string> files;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || name[0] == '_' || !ends_with(name, kMsdEnding)) continue;
    std::error_code status_error;
    if (fs::is_regular_file(entry.path(), status_error)) files.push_back(entry.path().string());
  }
  if (error) NNUC_THROW(IoError, "cannot list '", folder, "': ", error.message());
  std::sort(files.begin(), files.end());
  return files;
}

std::string channel_path(const std::string& folder, const std::string& base, int channel) {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%04d", channel);
  return (fs::path(folder) / (base + suffix + kMsdEnding)).string();
}

// One file of a conversion: an image to split into channel files, or a file to copy as it is.
struct FileJob {
  std::string source;
  std::string output_folder;
  bool split;  // image to split, else a file to copy (same name)
};

// Runs the jobs on `threads` threads (0: the CPU cores, at most 8). Every job is attempted; the
// failures are thrown together (IoError listing each file and reason), before any dataset.json is
// written. Returns the channel files written by the splits.
int run_file_jobs(const std::vector<FileJob>& jobs, int threads_asked, const char* command) {
  std::atomic<std::size_t> next{0};
  std::atomic<int> channels{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto worker = [&]() {
    for (std::size_t index = next++; index < jobs.size(); index = next++) {
      const FileJob& job = jobs[index];
      try {
        if (job.split) {
          channels += split_4d_nifti(job.source, job.output_folder);
        } else {
          write_file_atomic((fs::path(job.output_folder) / fs::path(job.source).filename()).string(),
                            read_file_text(job.source));
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(failures_mutex);
        failures.push_back(job.source + ": " + e.what());
      }
    }
  };
  unsigned threads = threads_asked > 0 ? static_cast<unsigned>(threads_asked)
                                       : std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(threads, jobs.size())));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& thread : pool) thread.join();
  if (!failures.empty()) {
    std::sort(failures.begin(), failures.end());
    std::string list;
    for (const std::string& failure : failures) list += "\n  " + failure;
    NNUC_THROW(IoError, command, ": ", failures.size(), " file(s) failed (no dataset.json written):", list);
  }
  return channels.load();
}

// Throws InvalidInput when dataset id `id` is taken in `roots` (nnU-Net's rule for new datasets).
void check_id_free(int id, const NnunetRoots& roots, const std::string& how_to_choose) {
  const std::vector<std::string> taken = find_candidate_datasets(id, roots);
  if (taken.empty()) return;
  std::string list;
  for (const std::string& name : taken) list += (list.empty() ? "" : ", ") + name;
  NNUC_THROW(InvalidInput, "target dataset id ", id, " is already taken (", list, "); ", how_to_choose,
             " (checked nnUNet_raw, nnUNet_preprocessed and nnUNet_results)");
}

nlohmann::ordered_json read_json_document(const std::string& path) {
  try {
    return nlohmann::ordered_json::parse(read_file_text(path));
  } catch (const nlohmann::ordered_json::parse_error& e) {
    NNUC_THROW(InvalidInput, path, ": not valid JSON: ", e.what());
  }
}

}  // namespace

DatasetJson convert_msd_dataset_json(const nlohmann::ordered_json& msd, const std::string& source) {
  NNUC_CHECK(msd.is_object(), source, ": expected a JSON object, found ", msd.type_name());
  nlohmann::ordered_json v2 = nlohmann::ordered_json::object();
  for (auto it = msd.begin(); it != msd.end(); ++it) {
    const std::string& key = it.key();
    if (key == "training" || key == "test" || key == "modality" || key == "labels" || key == "file_ending") continue;
    v2[key] = it.value();
  }
  NNUC_CHECK(msd.contains("modality") && msd["modality"].is_object(), source,
             ": field 'modality' missing or not an object: expected e.g. {\"0\": \"MRI\"}");
  v2["channel_names"] = msd["modality"];
  NNUC_CHECK(msd.contains("labels") && msd["labels"].is_object(), source,
             ": field 'labels' missing or not an object: expected e.g. {\"0\": \"background\", \"1\": \"tumour\"}");
  nlohmann::ordered_json labels = nlohmann::ordered_json::object();
  for (auto it = msd["labels"].begin(); it != msd["labels"].end(); ++it) {
    const std::string& key = it.key();
    const bool integer = !key.empty() && key.size() < 9 && std::all_of(key.begin(), key.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    NNUC_CHECK(integer, source, ": field 'labels.", key,
               "': expected an integer label id as key (MSD form {\"0\": \"background\"})");
    NNUC_CHECK(it.value().is_string(), source, ": field 'labels.", key, "' = ", it.value().dump(),
               ": expected a label name string");
    labels[it.value().get<std::string>()] = std::stoi(key);
  }
  v2["labels"] = labels;
  v2["file_ending"] = kMsdEnding;
  return parse_dataset_json(v2.dump(), source + " (converted to nnU-Net v2)");
}

int split_4d_nifti(const std::string& file, const std::string& output_folder) {
  const std::string name = fs::path(file).filename().string();
  NNUC_CHECK(ends_with(name, kMsdEnding), "'", file, "': expected a .nii.gz file");
  const std::string base = name.substr(0, name.size() - std::strlen(kMsdEnding));
  NiftiImage image = read_nifti(file);
  const int ndim = static_cast<int>(image.geometry.dim[0]);
  if (ndim <= 3) {  // copied unchanged, like nnU-Net
    write_file_atomic(channel_path(output_folder, base, 0), read_file_text(file));
    return 1;
  }
  NNUC_CHECK(ndim == 4, "'", file, "' has ", ndim, " dimensions: expected 3 or 4, cannot split");
  NiftiGeometry geometry = image.geometry;  // spatial part of the 4-D geometry
  geometry.dim[0] = 3;
  for (int d = 4; d < 8; ++d) geometry.dim[static_cast<std::size_t>(d)] = 1;
  const Tensor& voxels = image.voxels;  // (T, a0, a1, a2)
  const Shape volume{voxels.dim(1), voxels.dim(2), voxels.dim(3)};
  const std::size_t volume_bytes = static_cast<std::size_t>(volume.numel()) * sizeof(float);
  for (std::int64_t t = 0; t < voxels.dim(0); ++t) {
    Tensor channel = Tensor::empty_cpu(volume, DType::f32);
    std::memcpy(channel.raw(), voxels.data<float>() + t * volume.numel(), volume_bytes);
    write_nifti_image(channel_path(output_folder, base, static_cast<int>(t)), channel, geometry);
  }
  return static_cast<int>(voxels.dim(0));
}

MsdConversionResult convert_msd_dataset(const std::string& task_folder_in, const std::string& output_root,
                                        const MsdConversionOptions& options) {
  std::string task_folder = task_folder_in;
  while (task_folder.size() > 1 && (task_folder.back() == '/' || task_folder.back() == '\\')) task_folder.pop_back();
  const fs::path task(task_folder);
  std::error_code error;
  for (const char* sub : {"imagesTr", "labelsTr"}) {
    NNUC_CHECK(fs::is_directory(task / sub, error), "MSD task folder '", task_folder, "': subfolder ", sub,
               " is missing");
  }
  const std::string json_path = (task / "dataset.json").string();
  NNUC_CHECK(fs::is_regular_file(json_path, error), "MSD task folder '", task_folder, "': dataset.json is missing");
  NNUC_CHECK(!output_root.empty(), "convert-msd: no output root (set nnUNet_raw or pass -o DIR)");

  // "Task04_Hippocampus" -> id 4, name "Hippocampus".
  const std::string folder_name = task.filename().string();
  const std::size_t underscore = folder_name.find('_');
  const std::string digits = underscore == std::string::npos || folder_name.rfind("Task", 0) != 0
                                 ? std::string()
                                 : folder_name.substr(4, underscore - 4);
  NNUC_CHECK(
      !digits.empty() && digits.size() <= 4 &&
          std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }),
      "MSD task folder name '", folder_name, "': expected TaskNN_Name (e.g. Task04_Hippocampus)");
  const std::string task_name = folder_name.substr(underscore + 1);
  NNUC_CHECK(!task_name.empty(), "MSD task folder name '", folder_name, "': the name after '_' is empty");
  const int target_id = options.overwrite_id.value_or(std::stoi(digits));

  NnunetRoots roots = options.roots_to_check;
  roots.raw = output_root;
  check_id_free(target_id, roots, "choose another id with -overwrite_id");
  const DatasetJson json = convert_msd_dataset_json(read_json_document(json_path), json_path);

  MsdConversionResult result;
  result.dataset_name = dataset_folder_prefix(target_id) + task_name;
  result.dataset_folder = (fs::path(output_root) / result.dataset_name).string();
  const fs::path target(result.dataset_folder);
  for (const char* sub : {"imagesTr", "labelsTr", "imagesTs"}) {
    fs::create_directories(target / sub, error);
    if (error) NNUC_THROW(IoError, "cannot create '", (target / sub).string(), "': ", error.message());
  }

  std::vector<FileJob> jobs;
  for (const std::string& file : msd_files((task / "imagesTr").string()))
    jobs.push_back({file, (target / "imagesTr").string(), true});
  result.training_images = static_cast<int>(jobs.size());
  if (fs::is_directory(task / "imagesTs", error)) {
    for (const std::string& file : msd_files((task / "imagesTs").string()))
      jobs.push_back({file, (target / "imagesTs").string(), true});
  }
  result.test_images = static_cast<int>(jobs.size()) - result.training_images;
  for (const std::string& file : msd_files((task / "labelsTr").string()))
    jobs.push_back({file, (target / "labelsTr").string(), false});
  result.labels = static_cast<int>(jobs.size()) - result.training_images - result.test_images;

  result.channels_written = run_file_jobs(jobs, options.threads, "convert-msd");
  save_dataset_json((target / "dataset.json").string(), json);
  return result;
}

OldNnunetConversionResult convert_old_nnunet_dataset(const std::string& task_folder_in, const std::string& output_root,
                                                     const std::string& target_dataset_name,
                                                     const MsdConversionOptions& options) {
  std::string task_folder = task_folder_in;
  while (task_folder.size() > 1 && (task_folder.back() == '/' || task_folder.back() == '\\')) task_folder.pop_back();
  const fs::path task(task_folder);
  std::error_code error;
  for (const char* sub : {"imagesTr", "labelsTr"})
    NNUC_CHECK(fs::is_directory(task / sub, error), "nnU-Net v1 dataset folder '", task_folder, "': subfolder ", sub,
               " is missing (expected the Task folder itself, with imagesTr/, labelsTr/ and dataset.json)");
  const std::string json_path = (task / "dataset.json").string();
  NNUC_CHECK(fs::is_regular_file(json_path, error), "nnU-Net v1 dataset folder '", task_folder,
             "': dataset.json is missing");
  NNUC_CHECK(!output_root.empty(), "convert-old-dataset: no output root (set nnUNet_raw or pass -o DIR)");
  const std::optional<int> target_id = parse_dataset_id(target_dataset_name);
  NNUC_CHECK(target_id.has_value() && target_dataset_name.rfind("Dataset", 0) == 0 && target_dataset_name.size() > 11 &&
                 target_dataset_name[10] == '_',
             "target dataset name '", target_dataset_name, "': expected DatasetXXX_Name (three digits, e.g. ",
             "Dataset004_Hippocampus), a name and not a path");
  const fs::path target = fs::path(output_root) / target_dataset_name;
  NNUC_CHECK(!fs::exists(target, error), "target dataset ", target.string(),
             " already exists; remove it first if it is to be replaced (nnU-Net's rule)");
  NnunetRoots roots = options.roots_to_check;
  roots.raw = output_root;
  check_id_free(*target_id, roots, "choose another DatasetXXX_Name");

  // dataset.json: nnU-Net v1's layout is MSD's plus tensorImageSize and numTest, which v2 drops.
  nlohmann::ordered_json v1 = read_json_document(json_path);
  NNUC_CHECK(v1.is_object(), json_path, ": expected a JSON object, found ", v1.type_name());
  v1.erase("tensorImageSize");
  v1.erase("numTest");
  const DatasetJson json = convert_msd_dataset_json(v1, json_path);

  OldNnunetConversionResult result;
  result.dataset_name = target_dataset_name;
  result.dataset_folder = target.string();
  std::vector<FileJob> jobs;
  for (const char* sub : {"imagesTr", "labelsTr", "imagesTs", "labelsTs", "imagesVal", "labelsVal"}) {
    if (!fs::is_directory(task / sub, error)) continue;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(task / sub)) {
      std::error_code status_error;
      if (!fs::is_regular_file(entry.path(), status_error)) continue;
      const fs::path folder = target / sub / fs::relative(entry.path().parent_path(), task / sub);
      fs::create_directories(folder, error);
      if (error) NNUC_THROW(IoError, "cannot create '", folder.string(), "': ", error.message());
      jobs.push_back({entry.path().string(), folder.lexically_normal().string(), false});
    }
  }
  std::sort(jobs.begin(), jobs.end(), [](const FileJob& a, const FileJob& b) { return a.source < b.source; });
  result.files_copied = static_cast<int>(jobs.size());
  run_file_jobs(jobs, options.threads, "convert-old-dataset");
  save_dataset_json((target / "dataset.json").string(), json);
  return result;
}

}  // namespace nnuc::data
