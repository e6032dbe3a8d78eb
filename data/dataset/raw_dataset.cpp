#include "data/dataset/raw_dataset.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "kernels/core/error.h"

namespace nnuc::data {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Names of the non-hidden regular files (symlinks followed) in `folder`, sorted.
std::vector<std::string> regular_files(const std::string& folder) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) NNUC_THROW(IoError, "'", folder, "' is not a directory");
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code status_error;
    if (fs::is_regular_file(entry.path(), status_error)) names.push_back(name);
  }
  if (error) NNUC_THROW(IoError, "cannot list '", folder, "': ", error.message());
  std::sort(names.begin(), names.end());
  return names;
}

bool is_channel_file_of(const std::string& name, const std::string& case_id, const std::string& file_ending) {
  if (name.size() != case_id.size() + 5 + file_ending.size()) return false;
  if (name.compare(0, case_id.size(), case_id) != 0 || name[case_id.size()] != '_') return false;
  for (std::size_t i = case_id.size() + 1; i < case_id.size() + 5; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  return ends_with(name, file_ending);
}

}  // namespace

std::vector<std::string> find_case_ids(const std::string& folder, const std::string& file_ending) {
  std::set<std::string> ids;
  for (const std::string& name : regular_files(folder)) {
    if (!ends_with(name, file_ending) || name.size() <= file_ending.size() + 5) continue;
    ids.insert(name.substr(0, name.size() - file_ending.size() - 5));
  }
  return std::vector<std::string>(ids.begin(), ids.end());
}

std::vector<std::string> find_channel_files(const std::string& folder, const std::string& case_id,
                                            const std::string& file_ending) {
  std::vector<std::string> files;
  for (const std::string& name : regular_files(folder)) {
    if (is_channel_file_of(name, case_id, file_ending)) files.push_back((fs::path(folder) / name).string());
  }
  return files;
}

std::vector<RawCase> find_prediction_cases(const std::string& folder, const std::string& file_ending) {
  const std::vector<std::string> names = regular_files(folder);
  std::vector<RawCase> cases;
  for (const std::string& id : find_case_ids(folder, file_ending)) {
    RawCase raw_case;
    raw_case.id = id;
    for (const std::string& name : names) {
      if (is_channel_file_of(name, id, file_ending)) raw_case.images.push_back((fs::path(folder) / name).string());
    }
    cases.push_back(std::move(raw_case));
  }
  return cases;
}

std::vector<RawCase> find_training_cases(const std::string& dataset_folder, const DatasetJson& json) {
  if (json.dataset) {
    std::vector<RawCase> cases;
    for (const DatasetEntry& entry : *json.dataset) {
      RawCase raw_case;
      raw_case.id = entry.id;
      for (const std::string& image : entry.images)
        raw_case.images.push_back(resolve_dataset_path(dataset_folder, image));
      raw_case.label = resolve_dataset_path(dataset_folder, entry.label);
      cases.push_back(std::move(raw_case));
    }
    return cases;
  }
  const std::string images_folder = (fs::path(dataset_folder) / "imagesTr").string();
  const std::string labels_folder = (fs::path(dataset_folder) / "labelsTr").string();
  std::vector<RawCase> cases = find_prediction_cases(images_folder, json.file_ending);
  for (RawCase& raw_case : cases)
    raw_case.label = (fs::path(labels_folder) / (raw_case.id + json.file_ending)).string();
  return cases;
}

std::string expand_env_vars(const std::string& text) {
  auto is_name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$') {
      out += text[i++];
      continue;
    }
    std::string name;
    std::size_t end = i + 1;
    if (end < text.size() && text[end] == '{') {
      const std::size_t close = text.find('}', end + 1);
      if (close == std::string::npos) {  // no closing brace: Python leaves it as written
        out += text.substr(i);
        break;
      }
      name = text.substr(end + 1, close - end - 1);
      end = close + 1;
    } else {
      while (end < text.size() && is_name_char(text[end])) name += text[end++];
    }
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (value != nullptr)
      out += value;
    else
      out += text.substr(i, end - i);
    i = std::max(end, i + 1);
  }
  return out;
}

std::string resolve_dataset_path(const std::string& dataset_folder, const std::string& path) {
  const fs::path expanded(expand_env_vars(path));
  if (expanded.is_absolute()) return expanded.string();
  return fs::absolute(fs::path(dataset_folder) / expanded).lexically_normal().string();
}

// ---- dataset ids and names -------------------------------------------------------------------------

NnunetRoots NnunetRoots::from_environment() {
  auto get = [](const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
  };
  return NnunetRoots{get("nnUNet_raw"), get("nnUNet_preprocessed"), get("nnUNet_results")};
}

std::string dataset_folder_prefix(int dataset_id) {
  NNUC_CHECK(dataset_id >= 0 && dataset_id <= 9999, "dataset id ", dataset_id, ": expected 0..9999");
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "Dataset%03d_", dataset_id);
  return buffer;
}

std::optional<int> parse_dataset_id(const std::string& id_or_name) {
  std::string digits = id_or_name;
  if (id_or_name.rfind("Dataset", 0) == 0) {
    const std::size_t underscore = id_or_name.find('_');
    if (underscore == std::string::npos) return std::nullopt;
    digits = id_or_name.substr(7, underscore - 7);
  }
  if (digits.empty() || digits.size() > 4 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    return std::nullopt;
  }
  return std::stoi(digits);
}

std::vector<std::string> find_candidate_datasets(int dataset_id, const NnunetRoots& roots) {
  const std::string prefix = dataset_folder_prefix(dataset_id);
  std::set<std::string> names;
  for (const std::string& root : {roots.preprocessed, roots.raw, roots.results}) {
    std::error_code error;
    if (root.empty() || !fs::is_directory(root, error)) continue;
    for (const fs::directory_entry& entry : fs::directory_iterator(root, error)) {
      const std::string name = entry.path().filename().string();
      std::error_code status_error;
      if (name.rfind(prefix, 0) == 0 && fs::is_directory(entry.path(), status_error)) names.insert(name);
    }
  }
  return std::vector<std::string>(names.begin(), names.end());
}

std::string dataset_name_from_id_or_name(const std::string& id_or_name, const NnunetRoots& roots) {
  if (id_or_name.rfind("Dataset", 0) == 0) return id_or_name;
  std::optional<int> id = parse_dataset_id(id_or_name);
  NNUC_CHECK(id.has_value(), "dataset '", id_or_name, "': expected an id (e.g. 4 or 004) or a name DatasetXXX_Name");
  const std::vector<std::string> names = find_candidate_datasets(*id, roots);
  const std::string searched = "nnUNet_raw='" + roots.raw + "', nnUNet_preprocessed='" + roots.preprocessed +
                               "', nnUNet_results='" + roots.results + "'";
  NNUC_CHECK(!names.empty(), "no dataset folder ", dataset_folder_prefix(*id), "* found for dataset id ", *id,
             " (searched ", searched, ")");
  if (names.size() > 1) {
    std::string list;
    for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
    NNUC_THROW(InvalidInput, "more than one dataset name for id ", *id, ": ", list, " (searched ", searched,
               "); expected exactly one");
  }
  return names[0];
}

std::string raw_dataset_folder(const std::string& id_or_name, const NnunetRoots& roots) {
  NNUC_CHECK(!roots.raw.empty(),
             "nnUNet_raw is not set: set it to the folder holding DatasetXXX_Name folders, or pass -i DIR");
  const std::string name = dataset_name_from_id_or_name(id_or_name, roots);
  const std::string folder = (fs::path(roots.raw) / name).string();
  std::error_code error;
  NNUC_CHECK(fs::is_directory(folder, error), "raw dataset folder '", folder, "' does not exist (dataset '", id_or_name,
             "')");
  return folder;
}

}  // namespace nnuc::data
