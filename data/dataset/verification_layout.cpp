// Layout half of the dataset verifier: dataset.json, folder structure, file names, channels, labels.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "data/dataset/atomic_file.h"
#include "data/dataset/raw_dataset.h"
#include "data/dataset/verification_internal.h"

namespace nnuc::data::detail {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool has_image_ending(const std::string& name) {
  static const char* endings[] = {".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd",  ".gipl",
                                  ".png", ".bmp",    ".tif",  ".tiff", ".jpg", ".jpeg", ".npy",
                                  ".npz", ".b2nd",   ".hdr",  ".img",  ".gz"};
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::any_of(std::begin(endings), std::end(endings), [&](const char* e) { return ends_with(lower, e); });
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string channel_file_name(const std::string& id, int channel, const std::string& file_ending) {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%04d", channel);
  return id + suffix + file_ending;
}

struct Entry {
  std::string name;
  std::string path;
  bool directory = false;
  bool regular = false;
};

std::vector<Entry> list_folder(const std::string& folder) {
  std::vector<Entry> entries;
  std::error_code error;
  for (const fs::directory_entry& item : fs::directory_iterator(folder, error)) {
    Entry entry;
    entry.name = item.path().filename().string();
    entry.path = item.path().string();
    std::error_code status_error;
    entry.directory = fs::is_directory(item.path(), status_error);
    entry.regular = fs::is_regular_file(item.path(), status_error);
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return entries;
}

class LayoutChecker {
 public:
  LayoutChecker(const std::string& folder, LayoutCheck& out) : folder_(folder), out_(out) {}

  void add(Severity severity, const std::string& code, const std::string& path, const std::string& case_id,
           const std::string& message) {
    out_.problems.push_back(Problem{severity, code, path, case_id, "", message});
  }

  // Classifies one entry of a folder that should hold only dataset files. Returns true when the
  // entry is a regular, non-hidden file with the dataset's file ending.
  bool classify(const Entry& entry, const std::string& folder_name, const std::string& file_ending, Severity severity) {
    if (entry.directory) {
      add(Severity::warning, "stray_file", entry.path, "", "a folder inside " + folder_name + "; it is ignored");
      return false;
    }
    if (!entry.name.empty() && entry.name[0] == '.') {
      add(Severity::warning, "stray_file", entry.path, "",
          "hidden file inside " + folder_name + ": nnuc ignores it (nnU-Net would read it as a case when it ends in " +
              file_ending + ")");
      return false;
    }
    if (!entry.regular) {
      add(severity, "unreadable_file", entry.path, "", "not a regular file (broken link or special file)");
      return false;
    }
    if (!ends_with(entry.name, file_ending)) {
      if (has_image_ending(entry.name)) {
        add(severity, "file_ending_mismatch", entry.path, "",
            "file does not end in the dataset's file_ending '" + file_ending + "': it would be ignored");
      } else {
        add(Severity::warning, "stray_file", entry.path, "",
            "not a dataset file (expected names ending in " + file_ending + ")");
      }
      return false;
    }
    return true;
  }

  // Scans a folder of channel files: id -> channel index -> path. Bad names are reported.
  std::map<std::string, std::map<int, std::string>> scan_channels(const std::string& folder,
                                                                  const std::string& folder_name,
                                                                  const std::string& file_ending, Severity severity) {
    std::map<std::string, std::map<int, std::string>> cases;
    for (const Entry& entry : list_folder(folder)) {
      if (!classify(entry, folder_name, file_ending, severity)) continue;
      const std::size_t stem_length = entry.name.size() - file_ending.size();
      const std::string stem = entry.name.substr(0, stem_length);
      const bool well_formed =
          stem.size() > 5 && stem[stem.size() - 5] == '_' &&
          std::all_of(stem.end() - 4, stem.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
      if (!well_formed) {
        add(severity, "bad_file_name", entry.path, "",
            "expected an image name {CASE}_{XXXX}" + file_ending + " with a 4-digit channel index, e.g. case_001_0000" +
                file_ending);
        continue;
      }
      cases[stem.substr(0, stem.size() - 5)][std::stoi(stem.substr(stem.size() - 4))] = entry.path;
    }
    return cases;
  }

  // Reports missing and unexpected channels; returns each case's channel paths (size num_channels).
  std::vector<CaseFiles> check_channels(const std::map<std::string, std::map<int, std::string>>& cases,
                                        const std::string& folder, const std::string& file_ending, int num_channels,
                                        bool channels_declared, Severity severity) {
    std::vector<CaseFiles> files;
    for (const auto& [id, channels] : cases) {
      CaseFiles case_files;
      case_files.id = id;
      case_files.images.assign(static_cast<std::size_t>(num_channels), "");
      for (const auto& [channel, path] : channels) {
        if (channel < num_channels) {
          case_files.images[static_cast<std::size_t>(channel)] = path;
        } else {
          add(severity, "unexpected_channel", path, id,
              "channel index " + std::to_string(channel) + " but " +
                  (channels_declared ? "channel_names declares " : "the dataset has ") + std::to_string(num_channels) +
                  " channel(s) (_0000.._" + channel_file_name("", num_channels - 1, "").substr(1) + ")");
        }
      }
      for (int c = 0; c < num_channels; ++c) {
        if (case_files.images[static_cast<std::size_t>(c)].empty()) {
          add(severity, "missing_channel", (fs::path(folder) / channel_file_name(id, c, file_ending)).string(), id,
              "channel " + std::to_string(c) + " of case '" + id + "' is missing (every case needs channels 0.." +
                  std::to_string(num_channels - 1) + ")");
        }
      }
      files.push_back(std::move(case_files));
    }
    return files;
  }

  void warn_case_collisions(const std::vector<std::string>& ids, const std::string& path) {
    std::map<std::string, std::string> seen;
    for (const std::string& id : ids) {
      auto [it, inserted] = seen.emplace(lowercase(id), id);
      if (!inserted) {
        add(Severity::warning, "duplicate_case_id", path, id,
            "case ids '" + it->second + "' and '" + id +
                "' differ only in letter case: they collide on "
                "case-insensitive file systems");
      }
    }
  }

  void check_folder_layout(const DatasetJson& json, const DatasetJsonParse& parsed) {
    const std::string images_folder = (fs::path(folder_) / "imagesTr").string();
    const std::string labels_folder = (fs::path(folder_) / "labelsTr").string();
    const auto cases = scan_channels(images_folder, "imagesTr", json.file_ending, Severity::error);
    int num_channels = json.num_channels();
    if (!parsed.channels_ok) {
      num_channels = 1;
      for (const auto& [id, channels] : cases) num_channels = std::max(num_channels, channels.rbegin()->first + 1);
    }
    out_.cases =
        check_channels(cases, images_folder, json.file_ending, num_channels, parsed.channels_ok, Severity::error);

    std::map<std::string, std::string> labels;
    for (const Entry& entry : list_folder(labels_folder)) {
      if (!classify(entry, "labelsTr", json.file_ending, Severity::error)) continue;
      labels[entry.name.substr(0, entry.name.size() - json.file_ending.size())] = entry.path;
    }
    for (CaseFiles& case_files : out_.cases) {
      auto it = labels.find(case_files.id);
      if (it != labels.end()) {
        case_files.label = it->second;
      } else {
        add(Severity::error, "missing_label", (fs::path(labels_folder) / (case_files.id + json.file_ending)).string(),
            case_files.id, "case '" + case_files.id + "' has no label file in labelsTr");
      }
    }
    for (const auto& [id, path] : labels) {
      if (cases.count(id) == 0) {
        add(Severity::warning, "label_without_images", path, id,
            "label file without images in imagesTr (expected " + channel_file_name(id, 0, json.file_ending) +
                "); it is ignored");
      }
    }
    std::vector<std::string> ids;
    for (const CaseFiles& case_files : out_.cases) ids.push_back(case_files.id);
    warn_case_collisions(ids, images_folder);
  }

  void check_dict_layout(const DatasetJson& json) {
    std::map<std::string, std::string> owner;
    auto check_file = [&](const std::string& path, const std::string& id, const char* missing_code,
                          const std::string& what) {
      std::error_code error;
      if (!fs::exists(path, error)) {
        add(Severity::error, missing_code, path, id, what + " of case '" + id + "' does not exist");
        return false;
      }
      if (!ends_with(path, json.file_ending)) {
        add(Severity::error, "file_ending_mismatch", path, id,
            what + " does not end in the dataset's file_ending '" + json.file_ending + "'");
      }
      auto [it, inserted] = owner.emplace(path, id);
      if (!inserted) {
        add(Severity::warning, "shared_file", path, id, "file is also used by case '" + it->second + "'");
      }
      return true;
    };
    for (const RawCase& raw_case : find_training_cases(folder_, json)) {
      CaseFiles case_files;
      case_files.id = raw_case.id;
      for (std::size_t c = 0; c < raw_case.images.size(); ++c) {
        const bool present =
            check_file(raw_case.images[c], raw_case.id, "missing_image", "channel " + std::to_string(c));
        case_files.images.push_back(present ? raw_case.images[c] : "");
      }
      if (check_file(raw_case.label, raw_case.id, "missing_label", "label")) case_files.label = raw_case.label;
      out_.cases.push_back(std::move(case_files));
    }
    std::vector<std::string> ids;
    for (const CaseFiles& case_files : out_.cases) ids.push_back(case_files.id);
    warn_case_collisions(ids, (fs::path(folder_) / "dataset.json").string());
  }

  void check_test_images(const DatasetJson& json, int num_channels) {
    const std::string folder = (fs::path(folder_) / "imagesTs").string();
    std::error_code error;
    if (!fs::is_directory(folder, error)) return;
    const auto cases = scan_channels(folder, "imagesTs", json.file_ending, Severity::warning);
    check_channels(cases, folder, json.file_ending, num_channels, true, Severity::warning);
  }

 private:
  const std::string& folder_;
  LayoutCheck& out_;
};

}  // namespace

LayoutCheck check_layout(const std::string& dataset_folder, const VerifyOptions& options) {
  LayoutCheck out;
  LayoutChecker checker(dataset_folder, out);
  std::error_code error;
  if (!fs::is_directory(dataset_folder, error)) {
    checker.add(Severity::error, "dataset_folder_missing", dataset_folder, "", "the dataset folder does not exist");
    return out;
  }
  const std::string json_path = (fs::path(dataset_folder) / "dataset.json").string();
  std::string text;
  try {
    text = read_file_text(json_path);
  } catch (const std::exception& e) {
    checker.add(Severity::error, "dataset_json_missing", json_path, "",
                std::string("cannot read dataset.json: ") + e.what());
    return out;
  }
  DatasetJsonParse parsed = parse_dataset_json_collect(text, json_path);
  out.problems.insert(out.problems.end(), parsed.problems.begin(), parsed.problems.end());
  if (!parsed.json) return out;
  out.json = parsed.json;
  const DatasetJson& json = *parsed.json;
  if (parsed.labels_ok) out.allowed_labels = json.allowed_label_values();

  if (!json.dataset) {
    bool folders = true;
    for (const char* name : {"imagesTr", "labelsTr"}) {
      const std::string path = (fs::path(dataset_folder) / name).string();
      if (!fs::is_directory(path, error)) {
        checker.add(Severity::error, "folder_missing", path, "",
                    std::string(name) + " is missing (required without a \"dataset\" dict)");
        folders = false;
      }
    }
    if (!folders || !parsed.file_ending_ok) return out;
    checker.check_folder_layout(json, parsed);
  } else {
    if (!parsed.file_ending_ok || !parsed.dataset_dict_ok) return out;
    checker.check_dict_layout(json);
  }
  if (out.cases.empty()) {
    checker.add(
        Severity::error, "no_cases", dataset_folder, "",
        "no training cases found (expected imagesTr/{CASE}_0000" + json.file_ending + " files or a \"dataset\" dict)");
  }
  if (parsed.num_training_ok && json.num_training != static_cast<std::int64_t>(out.cases.size())) {
    Problem problem{Severity::error,
                    "num_training_mismatch",
                    json_path,
                    "",
                    "numTraining",
                    "numTraining is " + std::to_string(json.num_training) + " but " + std::to_string(out.cases.size()) +
                        " training case(s) were found"};
    out.problems.push_back(problem);
  }
  if (options.check_test_images && parsed.channels_ok) checker.check_test_images(json, json.num_channels());
  out.can_check_cases = !out.cases.empty();
  return out;
}

}  // namespace nnuc::data::detail
