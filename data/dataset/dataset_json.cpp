#include "data/dataset/dataset_json.h"

#include <algorithm>

#include "data/dataset/atomic_file.h"
#include "kernels/core/error.h"

namespace nnuc::data {

using Json = nlohmann::ordered_json;

// ---- LabelManager equivalents --------------------------------------------------------------------

bool DatasetJson::has_regions() const {
  return std::any_of(labels.begin(), labels.end(),
                     [](const LabelDefinition& l) { return l.is_list && l.values.size() > 1; });
}

std::optional<int> DatasetJson::ignore_label() const {
  for (const LabelDefinition& label : labels) {
    if (label.name == "ignore" && label.values.size() == 1) return label.values[0];
  }
  return std::nullopt;
}

std::vector<int> DatasetJson::all_labels() const {
  std::vector<int> values;
  for (const LabelDefinition& label : labels) {
    if (label.name == "ignore") continue;
    values.insert(values.end(), label.values.begin(), label.values.end());
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

std::vector<int> DatasetJson::allowed_label_values() const {
  std::vector<int> values = all_labels();
  if (std::optional<int> ignore = ignore_label()) values.push_back(*ignore);
  return values;
}

std::vector<std::vector<int>> DatasetJson::foreground_regions() const {
  std::vector<std::vector<int>> regions;
  for (const LabelDefinition& label : labels) {
    if (label.name == "ignore") continue;
    const bool background = std::all_of(label.values.begin(), label.values.end(), [](int v) { return v == 0; });
    if (background) continue;
    regions.push_back(label.values);
  }
  return regions;
}

int DatasetJson::num_segmentation_heads() const {
  if (has_regions()) return static_cast<int>(foreground_regions().size());
  return static_cast<int>(all_labels().size());
}

bool is_supported_file_ending(const std::string& file_ending) {
  return file_ending == ".nii.gz" || file_ending == ".nii";
}

DatasetJson parse_dataset_json(const std::string& text, const std::string& source, FileEndings endings) {
  DatasetJsonParse parsed = parse_dataset_json_collect(text, source, endings);
  std::string errors;
  std::size_t count = 0;
  for (const Problem& problem : parsed.problems) {
    if (problem.severity != Severity::error) continue;
    errors += "\n  " + problem_to_string(problem);
    ++count;
  }
  if (count > 0) NNUC_THROW(InvalidInput, source, ": ", count, " problem(s) in dataset.json:", errors);
  return std::move(*parsed.json);
}

DatasetJson load_dataset_json(const std::string& path, FileEndings endings) {
  return parse_dataset_json(read_file_text(path), path, endings);
}

nlohmann::ordered_json dataset_json_to_json(const DatasetJson& json) {
  Json out = Json::object();
  Json channels = Json::object();
  for (std::size_t i = 0; i < json.channel_names.size(); ++i) channels[std::to_string(i)] = json.channel_names[i];
  out["channel_names"] = channels;
  Json labels = Json::object();
  for (const LabelDefinition& label : json.labels) {
    if (label.is_list)
      labels[label.name] = label.values;
    else
      labels[label.name] = label.values.empty() ? 0 : label.values[0];
  }
  out["labels"] = labels;
  out["numTraining"] = json.num_training;
  out["file_ending"] = json.file_ending;
  if (json.regions_class_order) out["regions_class_order"] = *json.regions_class_order;
  if (!json.overwrite_image_reader_writer.empty())
    out["overwrite_image_reader_writer"] = json.overwrite_image_reader_writer;
  if (json.dataset) {
    Json dict = Json::object();
    for (const DatasetEntry& entry : *json.dataset)
      dict[entry.id] = Json{{"images", entry.images}, {"label", entry.label}};
    out["dataset"] = dict;
  }
  for (auto it = json.other.begin(); it != json.other.end(); ++it) out[it.key()] = it.value();
  return out;
}

void save_dataset_json(const std::string& path, const DatasetJson& json) {
  write_file_atomic(path, dataset_json_to_json(json).dump(4) + "\n");
}

}  // namespace nnuc::data
