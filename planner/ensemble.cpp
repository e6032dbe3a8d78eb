#include "planner/ensemble.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "data/dataset/atomic_file.h"
#include "data/evaluation/metrics.h"
#include "data/export/export.h"
#include "data/export/npz.h"
#include "data/preprocess/preprocess_case.h"

namespace nnuc::planner {

namespace fs = std::filesystem;

namespace {

constexpr const char* kProbabilitiesMember = "probabilities";

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The identifiers of the CASE.npz files of a folder, sorted (temp files of atomic writes skipped).
std::vector<std::string> npz_identifiers(const fs::path& folder) {
  std::vector<std::string> identifiers;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.rfind(".tmp-", 0) == 0 || !ends_with(name, ".npz")) continue;
    identifiers.push_back(name.substr(0, name.size() - 4));
  }
  std::sort(identifiers.begin(), identifiers.end());
  return identifiers;
}

// CASE.json beside CASE.npz.
data::CaseProperties read_properties(const std::string& npz_file) {
  const std::string path = npz_file.substr(0, npz_file.size() - 4) + ".json";
  if (!fs::is_regular_file(path))
    NNUC_THROW(IoError, "no properties file ", path, " beside ", npz_file,
               " (nnuc writes CASE.json with CASE.npz: nnuc predict --save-probabilities, nnuc train --npz)");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(data::read_file_text(path));
  } catch (const nlohmann::json::exception& error) {
    NNUC_THROW(IoError, path, ": not JSON: ", error.what());
  }
  return data::case_properties_from_json(json, path);
}

// A folder holding the staged outputs of an ensemble inside the output folder; moved into place by
// commit(), removed (with whatever it holds) when destroyed.
class StagingFolder {
 public:
  explicit StagingFolder(const fs::path& output) : output_(output) {
    static std::atomic<int> counter{0};
    path_ = output / (".tmp-ensemble-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~StagingFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;

  const fs::path& path() const { return path_; }
  void commit() const {
    for (const fs::directory_entry& entry : fs::directory_iterator(path_)) {
      std::error_code error;
      fs::rename(entry.path(), output_ / entry.path().filename(), error);
      if (error)
        NNUC_THROW(IoError, "cannot move ", entry.path().string(), " to ", (output_ / entry.path().filename()).string(),
                   ": ", error.message());
    }
  }

 private:
  fs::path output_, path_;
};

// Averages one case's members and writes its outputs into `folder`.
void merge_case(const EnsembleCase& item, const std::vector<std::string>& member_names, const fs::path& folder,
                const data::DatasetJson& dataset, bool save_npz) {
  const std::int64_t heads = dataset.num_segmentation_heads();
  data::NpzReadOptions read_options;
  read_options.as_f32 = true;
  Tensor sum;  // f32 (K, a0, a1, a2)
  data::CaseProperties first;
  for (std::size_t m = 0; m < item.member_files.size(); ++m) {
    const std::string& file = item.member_files[m];
    const data::CaseProperties properties = read_properties(file);
    const Tensor probabilities = data::read_npz_array(file, kProbabilitiesMember, read_options);
    NNUC_CHECK(probabilities.rank() == 4 && probabilities.dim(0) == heads, "case ", item.identifier, ": ", file,
               " holds probabilities of shape ", probabilities.shape().str(), "; expected (", heads,
               ", a0, a1, a2): one channel per ", dataset.has_regions() ? "region" : "label", " of dataset.json");
    if (m == 0) {
      first = properties;
      sum = probabilities;
      continue;
    }
    NNUC_CHECK(probabilities.shape() == sum.shape(), "case ", item.identifier, ": the probabilities in ",
               member_names[0], " have shape ", sum.shape().str(), ", those in ", member_names[m], " ",
               probabilities.shape().str(), "; ensemble members must predict the same cases on the same grid");
    NNUC_CHECK(properties.spacing == first.spacing && properties.reader_properties == first.reader_properties, "case ",
               item.identifier, ": the properties (", properties.spacing == first.spacing ? "geometry" : "spacing",
               ") in ", member_names[0], " and ", member_names[m],
               " differ; ensemble members must predict the same images");
    float* out = sum.data<float>();
    const float* in = probabilities.data<float>();
    const std::int64_t count = sum.numel();
    for (std::int64_t i = 0; i < count; ++i) out[i] += in[i];
  }
  // nnU-Net: avg /= len(list_of_files), in float32.
  const float members = static_cast<float>(item.member_files.size());
  float* values = sum.data<float>();
  const std::int64_t count = sum.numel();
  for (std::int64_t i = 0; i < count; ++i) values[i] /= members;

  const Tensor segmentation = segmentation_from_probabilities(sum, dataset);
  data::write_segmentation((folder / (item.identifier + dataset.file_ending)).string(), segmentation, first);
  if (save_npz) {
    data::write_npz((folder / (item.identifier + ".npz")).string(), {{kProbabilitiesMember, sum}});
    data::write_file_atomic((folder / (item.identifier + ".json")).string(),
                            data::case_properties_to_json(first).dump(1) + "\n");
  }
}

}  // namespace

Tensor segmentation_from_probabilities(const Tensor& probabilities, const data::DatasetJson& dataset) {
  check_dtype(probabilities, DType::f32, "probabilities");
  NNUC_CHECK(probabilities.device() == Device::CPU && probabilities.rank() == 4 &&
                 probabilities.dim(0) == dataset.num_segmentation_heads(),
             "probabilities must be a host tensor (K, a0, a1, a2) with K = ", dataset.num_segmentation_heads(),
             "; got ", probabilities.describe());
  const bool regions = dataset.has_regions();
  std::vector<int> labels;  // the label written for channel c (labels) or region i (regions)
  if (regions) {
    NNUC_CHECK(dataset.regions_class_order.has_value() &&
                   dataset.regions_class_order->size() == static_cast<std::size_t>(probabilities.dim(0)),
               "dataset.json: region training needs regions_class_order with one entry per region (",
               probabilities.dim(0), ")");
    labels = *dataset.regions_class_order;
  } else {
    labels = dataset.all_labels();
  }
  const int largest = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end());
  const bool small = largest <= 255;
  const std::int64_t channels = probabilities.dim(0), voxels = probabilities.numel() / channels;
  Tensor segmentation = Tensor::empty_cpu(Shape{probabilities.dim(1), probabilities.dim(2), probabilities.dim(3)},
                                          small ? DType::u8 : DType::i16);
  const float* p = probabilities.data<float>();
  std::uint8_t* out8 = small ? segmentation.data<std::uint8_t>() : nullptr;
  std::int16_t* out16 = small ? nullptr : segmentation.data<std::int16_t>();
  for (std::int64_t i = 0; i < voxels; ++i) {
    int label = 0;
    if (regions) {
      for (std::int64_t c = 0; c < channels; ++c)
        if (p[c * voxels + i] > 0.5f) label = labels[static_cast<std::size_t>(c)];
    } else {
      std::int64_t best = 0;
      for (std::int64_t c = 1; c < channels; ++c)
        if (p[c * voxels + i] > p[best * voxels + i]) best = c;
      label = labels[static_cast<std::size_t>(best)];
    }
    if (small)
      out8[i] = static_cast<std::uint8_t>(label);
    else
      out16[i] = static_cast<std::int16_t>(label);
  }
  return segmentation;
}

EnsembleResult ensemble_cases(const std::vector<EnsembleCase>& cases, const std::vector<std::string>& member_names,
                              const std::string& output_folder, const data::DatasetJson& dataset,
                              const EnsembleOptions& options) {
  NNUC_CHECK(!member_names.empty(), "an ensemble needs at least one member");
  for (const EnsembleCase& item : cases)
    NNUC_CHECK(item.member_files.size() == member_names.size(), "case ", item.identifier, " has ",
               item.member_files.size(), " member files for ", member_names.size(), " members");
  fs::create_directories(output_folder);
  EnsembleResult result;
  std::vector<const EnsembleCase*> todo;
  for (const EnsembleCase& item : cases) {
    if (!options.overwrite && fs::is_regular_file(fs::path(output_folder) / (item.identifier + dataset.file_ending))) {
      result.skipped.push_back(item.identifier);
      continue;
    }
    todo.push_back(&item);
    result.cases.push_back(item.identifier);
  }
  const StagingFolder staging{fs::path(output_folder)};
  data::for_each_case(todo.size(), options.threads, [&](std::size_t i) {
    merge_case(*todo[i], member_names, staging.path(), dataset, options.save_npz);
  });
  staging.commit();
  std::sort(result.cases.begin(), result.cases.end());
  std::sort(result.skipped.begin(), result.skipped.end());
  return result;
}

void copy_file_atomic(const std::string& from, const std::string& to) {
  data::write_file_atomic(to, data::read_file_text(from));
}

EnsembleResult ensemble_folders(const std::vector<std::string>& input_folders, const std::string& output_folder,
                                const EnsembleOptions& options) {
  NNUC_CHECK(!input_folders.empty(), "ensemble: no input folder");
  const fs::path dataset_file = fs::path(input_folders[0]) / "dataset.json";
  if (!fs::is_regular_file(dataset_file))
    NNUC_THROW(IoError, "no dataset.json in ", input_folders[0],
               " (the first input folder: nnuc predict writes one beside its predictions)");
  return ensemble_folders(input_folders, output_folder, data::load_dataset_json(dataset_file.string()), options);
}

EnsembleResult ensemble_folders(const std::vector<std::string>& input_folders, const std::string& output_folder,
                                const data::DatasetJson& dataset, const EnsembleOptions& options) {
  NNUC_CHECK(input_folders.size() >= 2, "ensemble: give at least 2 input folders, got ", input_folders.size());
  std::vector<std::vector<std::string>> identifiers;
  std::set<std::string> all;
  for (const std::string& folder : input_folders) {
    NNUC_CHECK(fs::is_directory(folder), "ensemble: input folder ", folder, " does not exist");
    identifiers.push_back(npz_identifiers(folder));
    NNUC_CHECK(!identifiers.back().empty(), "ensemble: no .npz probabilities in ", folder,
               " (predict with --save-probabilities)");
    all.insert(identifiers.back().begin(), identifiers.back().end());
  }
  for (std::size_t f = 0; f < input_folders.size(); ++f) {
    for (const std::string& identifier : all) {
      if (std::binary_search(identifiers[f].begin(), identifiers[f].end(), identifier)) continue;
      const auto has = std::find_if(identifiers.begin(), identifiers.end(), [&](const std::vector<std::string>& ids) {
        return std::binary_search(ids.begin(), ids.end(), identifier);
      });
      NNUC_THROW(InvalidInput, "ensemble: case ", identifier, " has no ", identifier, ".npz in ", input_folders[f],
                 " (", input_folders[static_cast<std::size_t>(has - identifiers.begin())],
                 " has it); every input folder must hold the probabilities of the same cases");
    }
  }
  std::vector<EnsembleCase> cases;
  for (const std::string& identifier : all) {
    EnsembleCase item{identifier, {}};
    for (const std::string& folder : input_folders)
      item.member_files.push_back((fs::path(folder) / (identifier + ".npz")).string());
    cases.push_back(std::move(item));
  }
  EnsembleResult result = ensemble_cases(cases, input_folders, output_folder, dataset, options);
  for (const char* name : {"dataset.json", "plans.json"}) {
    const fs::path source = fs::path(input_folders[0]) / name;
    const fs::path target = fs::path(output_folder) / name;
    if (fs::is_regular_file(source) && !fs::equivalent(source.parent_path(), target.parent_path()))
      copy_file_atomic(source.string(), target.string());
  }
  return result;
}

EnsembleResult ensemble_crossvalidations(const std::vector<std::string>& model_folders,
                                         const std::vector<std::string>& folds, const std::string& output_folder,
                                         const EnsembleOptions& options) {
  NNUC_CHECK(model_folders.size() >= 2, "cross-validation ensemble: at least 2 model folders, got ",
             model_folders.size());
  NNUC_CHECK(!folds.empty(), "cross-validation ensemble: no folds");
  // file_mapping[m][identifier] = MODEL/fold_k/validation/CASE.npz
  std::vector<std::map<std::string, std::string>> file_mapping(model_folders.size());
  std::set<std::string> all;
  for (std::size_t m = 0; m < model_folders.size(); ++m) {
    std::map<std::string, std::string> fold_of_case;
    for (const std::string& fold : folds) {
      const fs::path validation = fs::path(model_folders[m]) / ("fold_" + fold) / "validation";
      if (!fs::is_directory(validation))
        NNUC_THROW(InvalidInput, "fold ", fold, " of ", model_folders[m], " has no validation folder ",
                   validation.string(), ": train every requested fold of the model (with --npz to ensemble)");
      const std::vector<std::string> identifiers = npz_identifiers(validation);
      NNUC_CHECK(!identifiers.empty(), "no .npz probabilities in ", validation.string(),
                 ": train the fold with --npz, or rerun its validation with nnuc train ... --val --npz");
      for (const std::string& identifier : identifiers) {
        const auto [at, inserted] = fold_of_case.emplace(identifier, fold);
        NNUC_CHECK(inserted, "case ", identifier, " is predicted by fold ", at->second, " and fold ", fold, " of ",
                   model_folders[m], "; each case belongs to one fold");
        file_mapping[m][identifier] = (validation / (identifier + ".npz")).string();
        all.insert(identifier);
      }
    }
  }
  for (std::size_t m = 0; m < model_folders.size(); ++m)
    for (const std::string& identifier : all)
      NNUC_CHECK(file_mapping[m].count(identifier) == 1, "case ", identifier, " has cross-validation probabilities in ",
                 model_folders[m == 0 ? 1 : 0], " but none in folds of ", model_folders[m],
                 " (every model must be trained on the same splits, with --npz)");

  const fs::path first(model_folders[0]);
  const data::DatasetJson dataset = data::load_dataset_json((first / "dataset.json").string());
  std::vector<EnsembleCase> cases;
  for (const std::string& identifier : all) {
    EnsembleCase item{identifier, {}};
    for (const auto& mapping : file_mapping) item.member_files.push_back(mapping.at(identifier));
    cases.push_back(std::move(item));
  }
  fs::create_directories(output_folder);
  if (options.overwrite) {  // a previous ensemble's cases that no fold predicts now
    for (const std::string& name : data::list_case_files(output_folder, dataset.file_ending)) {
      const std::string identifier = name.substr(0, name.size() - dataset.file_ending.size());
      if (all.count(identifier) == 0) fs::remove(fs::path(output_folder) / name);
    }
  }
  EnsembleResult result = ensemble_cases(cases, model_folders, output_folder, dataset, options);
  for (const char* name : {"plans.json", "dataset.json"})
    copy_file_atomic((first / name).string(), (fs::path(output_folder) / name).string());
  return result;
}

}  // namespace nnuc::planner
