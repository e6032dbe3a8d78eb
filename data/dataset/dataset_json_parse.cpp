// The collecting dataset.json parser (parse_dataset_json_collect in dataset_json.h): LabelManager's
// rules, verify_dataset_integrity's document checks, duplicate keys; every problem is collected.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "data/dataset/dataset_json.h"

namespace nnuc::data {

using Json = nlohmann::ordered_json;

namespace {

std::string short_dump(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// An integer value: JSON integers, and floats with an integral value (Python's int() accepts 1.0).
// Booleans are not integers here (JSON true is not a label).
std::optional<long long> as_integer(const Json& value) {
  if (value.is_number_integer()) return value.get<long long>();
  if (value.is_number_float()) {
    const double v = value.get<double>();
    if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 9.0e15) return static_cast<long long>(v);
  }
  return std::nullopt;
}

// Detects duplicate object keys while nlohmann parses (its result keeps only one of them).
class DuplicateKeyTracker {
 public:
  explicit DuplicateKeyTracker(std::vector<std::string>& duplicates) : duplicates_(duplicates) {}

  bool on_event(nlohmann::detail::parse_event_t event, Json& parsed) {
    using Event = nlohmann::detail::parse_event_t;
    switch (event) {
      case Event::object_start: push(true); break;
      case Event::array_start: push(false); break;
      case Event::object_end:
      case Event::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case Event::key: {
        Frame& frame = frames_.back();
        const std::string key = parsed.get<std::string>();
        if (!frame.keys.insert(key).second) duplicates_.push_back(join(frame.path, key));
        frame.last_key = key;
        break;
      }
      case Event::value:
        if (!frames_.empty() && !frames_.back().object) ++frames_.back().count;
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool object;
    std::string path;
    std::set<std::string> keys;
    std::string last_key;
    std::size_t count = 0;
  };

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  void push(bool object) {
    std::string path;
    if (!frames_.empty()) {
      Frame& parent = frames_.back();
      path =
          parent.object ? join(parent.path, parent.last_key) : parent.path + "[" + std::to_string(parent.count++) + "]";
    }
    frames_.push_back(Frame{object, path, {}, {}, 0});
  }

  std::vector<Frame> frames_;
  std::vector<std::string>& duplicates_;
};

class Parser {
 public:
  Parser(const std::string& source, FileEndings endings, DatasetJsonParse& out)
      : source_(source), endings_(endings), out_(out) {}

  void error(const std::string& code, const std::string& field, const std::string& message) {
    out_.problems.push_back(Problem{Severity::error, code, source_, "", field, message});
  }
  void warning(const std::string& code, const std::string& field, const std::string& message) {
    out_.problems.push_back(Problem{Severity::warning, code, source_, "", field, message});
  }

  void parse(const Json& root, DatasetJson& json) {
    static const std::set<std::string> known = {"channel_names",
                                                "modality",
                                                "labels",
                                                "regions_class_order",
                                                "numTraining",
                                                "file_ending",
                                                "overwrite_image_reader_writer",
                                                "dataset"};
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (known.count(it.key()) == 0) json.other[it.key()] = it.value();
    }
    out_.channels_ok = parse_channels(root, json);
    out_.labels_ok = parse_labels(root, json);
    out_.num_training_ok = parse_num_training(root, json);
    out_.file_ending_ok = parse_file_ending(root, json);
    parse_reader_writer(root, json);
    out_.dataset_dict_ok = parse_dataset_dict(root, json);
  }

 private:
  bool parse_channels(const Json& root, DatasetJson& json) {
    const char* key = "channel_names";
    if (!root.contains(key)) {
      if (!root.contains("modality")) {
        error("json_missing_key", "channel_names",
              "required key 'channel_names' is missing (expected e.g. {\"0\": \"CT\"}; legacy 'modality' is also "
              "accepted)");
        return false;
      }
      key = "modality";
      json.legacy_modality = true;
    }
    const Json& names = root.at(key);
    if (!names.is_object() || names.empty()) {
      error("json_bad_value", key,
            std::string("value ") + short_dump(names) +
                ": expected a non-empty object mapping channel index to name, e.g. {\"0\": \"T2\"}");
      return false;
    }
    std::map<long long, std::string> by_index;
    bool ok = true;
    for (auto it = names.begin(); it != names.end(); ++it) {
      const std::string field = std::string(key) + "." + it.key();
      long long index = -1;
      const std::string& text = it.key();
      const bool digits = !text.empty() && text.size() < 10 &&
                          std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits) index = std::stoll(text);
      if (!digits) {
        error("json_bad_value", field, "channel key '" + text + "': expected a channel index \"0\", \"1\", ...");
        ok = false;
        continue;
      }
      if (!it.value().is_string() || it.value().get<std::string>().empty()) {
        error("json_bad_value", field,
              "value " + short_dump(it.value()) + ": expected a non-empty channel name string");
        ok = false;
        continue;
      }
      by_index[index] = it.value().get<std::string>();
    }
    long long expected = 0;
    for (const auto& [index, name] : by_index) {
      if (index != expected) {
        error("json_bad_value", key,
              "channel indices " + short_dump(names) + ": expected consecutive indices 0.." +
                  std::to_string(names.size() - 1) + " (index " + std::to_string(expected) + " is missing)");
        ok = false;
        break;
      }
      ++expected;
    }
    for (const auto& [index, name] : by_index) json.channel_names.push_back(name);
    return ok;
  }

  bool parse_labels(const Json& root, DatasetJson& json) {
    if (!root.contains("labels")) {
      error("json_missing_key", "labels",
            "required key 'labels' is missing (expected e.g. {\"background\": 0, \"tumour\": 1})");
      return false;
    }
    const Json& labels = root.at("labels");
    if (!labels.is_object() || labels.empty()) {
      error("json_bad_value", "labels",
            "value " + short_dump(labels) + ": expected a non-empty object {name: int or [ints]}");
      return false;
    }
    bool ok = true;
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      const std::string field = "labels." + it.key();
      LabelDefinition label;
      label.name = it.key();
      const Json& value = it.value();
      if (value.is_array()) {
        label.is_list = true;
        for (const Json& element : value) {
          std::optional<long long> v = as_integer(element);
          if (!v) {
            error("json_bad_value", field, "value " + short_dump(value) + ": expected a list of integer label ids");
            ok = false;
            label.values.clear();
            break;
          }
          label.values.push_back(static_cast<int>(std::clamp<long long>(*v, -1, kMaxLabelValue + 1LL)));
        }
        if (value.empty()) {
          error("json_bad_value", field, "value []: expected a non-empty list of integer label ids");
          ok = false;
        }
      } else if (std::optional<long long> v = as_integer(value)) {
        label.values.push_back(static_cast<int>(std::clamp<long long>(*v, -1, kMaxLabelValue + 1LL)));
      } else {
        error("json_bad_value", field,
              "value " + short_dump(value) + ": expected an integer label id or a list of them");
        ok = false;
      }
      for (int v : label.values) {
        if (v < 0 || v > kMaxLabelValue) {
          error("labels_out_of_range", field,
                "value " + short_dump(value) + ": expected label ids in [0, " + std::to_string(kMaxLabelValue) +
                    "] (nnuc stores label maps as int16)");
          ok = false;
          break;
        }
      }
      if (!label.values.empty()) json.labels.push_back(label);
    }
    if (!ok) return false;
    return check_label_rules(root, json);
  }

  // LabelManager's sanity checks plus verify_dataset_integrity's consecutive-labels rule.
  bool check_label_rules(const Json& root, DatasetJson& json) {
    bool ok = true;
    auto background = std::find_if(json.labels.begin(), json.labels.end(),
                                   [](const LabelDefinition& l) { return l.name == "background"; });
    if (background == json.labels.end()) {
      error("labels_no_background", "labels", "no 'background' label: expected \"background\": 0");
      ok = false;
    } else if (background->is_list || background->values != std::vector<int>{0}) {
      error("labels_background_not_zero", "labels.background",
            "value " + short_dump(root.at("labels").at("background")) + ": expected the integer 0 (not a list)");
      ok = false;
    }
    auto ignore = std::find_if(json.labels.begin(), json.labels.end(),
                               [](const LabelDefinition& l) { return l.name == "ignore"; });
    std::vector<int> all = json.all_labels();
    if (ignore != json.labels.end()) {
      if (ignore->is_list) {
        error("labels_ignore_not_integer", "labels.ignore",
              "value " + short_dump(root.at("labels").at("ignore")) +
                  ": the ignore label must be one integer, not a region");
        ok = false;
      } else if (!all.empty() && ignore->values[0] != all.back() + 1) {
        error("labels_ignore_not_highest", "labels.ignore",
              "value " + std::to_string(ignore->values[0]) +
                  ": expected max(all labels) + 1 = " + std::to_string(all.back() + 1));
        ok = false;
      }
    }
    std::vector<int> expected = json.allowed_label_values();
    for (std::size_t i = 1; i < expected.size(); ++i) {
      if (expected[i] != expected[i - 1] + 1) {
        std::string found;
        for (int v : expected) found += (found.empty() ? "" : ", ") + std::to_string(v);
        error("labels_not_consecutive", "labels",
              "label values [" + found + "]: expected consecutive integers 0, 1, 2, ... (" +
                  std::to_string(expected[i]) + " follows " + std::to_string(expected[i - 1]) + ")");
        ok = false;
        break;
      }
    }
    if (!json.has_regions()) {
      std::map<int, std::string> owner;
      for (const LabelDefinition& label : json.labels) {
        for (int v : label.values) {
          auto [it, inserted] = owner.emplace(v, label.name);
          if (!inserted) {
            warning("labels_duplicate_value", "labels." + label.name,
                    "label id " + std::to_string(v) + " is also declared as '" + it->second + "'");
          }
        }
      }
    }
    return check_regions(root, json) && ok;
  }

  bool check_regions(const Json& root, DatasetJson& json) {
    const bool regions = json.has_regions();
    if (!root.contains("regions_class_order")) {
      if (regions) {
        error("regions_missing_class_order", "regions_class_order",
              "labels define regions (lists of several ids) but 'regions_class_order' is missing: expected a list with "
              "one label id per foreground region (" +
                  std::to_string(json.foreground_regions().size()) + " entries)");
        return false;
      }
      return true;
    }
    const Json& order = root.at("regions_class_order");
    std::vector<int> values;
    bool ok = order.is_array();
    if (ok) {
      for (const Json& element : order) {
        std::optional<long long> v = as_integer(element);
        if (!v)
          ok = false;
        else
          values.push_back(static_cast<int>(std::clamp<long long>(*v, -1, kMaxLabelValue + 1LL)));
      }
    }
    if (!ok) {
      error("json_bad_value", "regions_class_order",
            "value " + short_dump(order) + ": expected a list of integer label ids");
      return false;
    }
    json.regions_class_order = values;
    if (!regions) {
      warning("regions_class_order_unused", "regions_class_order",
              "regions_class_order is given but no label is a region (a list of several ids); it is ignored");
      return true;
    }
    const std::size_t num_regions = json.foreground_regions().size();
    if (values.size() != num_regions) {
      error("regions_class_order_length", "regions_class_order",
            "value " + short_dump(order) + " has " + std::to_string(values.size()) + " entries: expected " +
                std::to_string(num_regions) + " (one per foreground region)");
      return false;
    }
    const std::vector<int> all = json.all_labels();
    for (int v : values) {
      if (v == 0 || !std::binary_search(all.begin(), all.end(), v)) {
        warning("regions_class_order_value", "regions_class_order",
                "entry " + std::to_string(v) + " is not a declared foreground label id; predictions will contain it");
      }
    }
    return true;
  }

  bool parse_num_training(const Json& root, DatasetJson& json) {
    if (!root.contains("numTraining")) {
      error("json_missing_key", "numTraining",
            "required key 'numTraining' is missing (expected the number of training cases)");
      return false;
    }
    std::optional<long long> value = as_integer(root.at("numTraining"));
    if (!value || *value < 0) {
      error("json_bad_value", "numTraining",
            "value " + short_dump(root.at("numTraining")) + ": expected a non-negative integer");
      return false;
    }
    json.num_training = *value;
    return true;
  }

  bool parse_file_ending(const Json& root, DatasetJson& json) {
    if (!root.contains("file_ending")) {
      error("json_missing_key", "file_ending",
            "required key 'file_ending' is missing (expected \".nii.gz\" or \".nii\")");
      return false;
    }
    const Json& value = root.at("file_ending");
    if (!value.is_string() || value.get<std::string>().size() < 2 || value.get<std::string>()[0] != '.') {
      error("json_bad_value", "file_ending",
            "value " + short_dump(value) + ": expected a file ending such as \".nii.gz\"");
      return false;
    }
    json.file_ending = value.get<std::string>();
    if (endings_ == FileEndings::nifti && !is_supported_file_ending(json.file_ending)) {
      error("file_ending_unsupported", "file_ending",
            "value \"" + json.file_ending + "\": nnuc reads NIfTI only (expected \".nii.gz\" or \".nii\")");
      return false;
    }
    return true;
  }

  void parse_reader_writer(const Json& root, DatasetJson& json) {
    if (!root.contains("overwrite_image_reader_writer")) return;
    const Json& value = root.at("overwrite_image_reader_writer");
    if (!value.is_string()) {
      error("json_bad_value", "overwrite_image_reader_writer",
            "value " + short_dump(value) + ": expected a reader/writer class name");
      return;
    }
    if (value.get<std::string>() == "None") return;  // nnU-Net's spelling of "not set"
    json.overwrite_image_reader_writer = value.get<std::string>();
    if (json.overwrite_image_reader_writer != "SimpleITKIO" && json.overwrite_image_reader_writer != "NibabelIO") {
      warning("reader_writer_ignored", "overwrite_image_reader_writer",
              "value \"" + json.overwrite_image_reader_writer +
                  "\": nnuc reads NIfTI with its own reader, with SimpleITKIO's geometry and no reorientation");
    }
  }

  bool parse_dataset_dict(const Json& root, DatasetJson& json) {
    if (!root.contains("dataset")) return true;
    const Json& dict = root.at("dataset");
    if (!dict.is_object()) {
      error("json_bad_value", "dataset",
            "value " + short_dump(dict) + ": expected {case_id: {\"images\": [paths], \"label\": path}}");
      return false;
    }
    bool ok = true;
    std::vector<DatasetEntry> entries;
    for (auto it = dict.begin(); it != dict.end(); ++it) {
      const std::string field = "dataset." + it.key();
      const Json& entry = it.value();
      DatasetEntry parsed;
      parsed.id = it.key();
      bool entry_ok = entry.is_object() && entry.contains("images") && entry.at("images").is_array() &&
                      !entry.at("images").empty() && entry.contains("label") && entry.at("label").is_string();
      if (entry_ok) {
        for (const Json& image : entry.at("images")) {
          if (!image.is_string())
            entry_ok = false;
          else
            parsed.images.push_back(image.get<std::string>());
        }
        parsed.label = entry.at("label").get<std::string>();
      }
      if (!entry_ok) {
        error("json_bad_value", field,
              "value " + short_dump(entry) + ": expected {\"images\": [paths], \"label\": path}");
        ok = false;
        continue;
      }
      if (out_.channels_ok && static_cast<int>(parsed.images.size()) != json.num_channels()) {
        error("dataset_entry_channel_count", field + ".images",
              std::to_string(parsed.images.size()) + " images: expected " + std::to_string(json.num_channels()) +
                  " (one per entry of channel_names)");
        ok = false;
      }
      entries.push_back(std::move(parsed));
    }
    json.dataset = std::move(entries);
    return ok;
  }

  const std::string& source_;
  FileEndings endings_;
  DatasetJsonParse& out_;
};

}  // namespace

DatasetJsonParse parse_dataset_json_collect(const std::string& text, const std::string& source, FileEndings endings) {
  DatasetJsonParse out;
  std::vector<std::string> duplicates;
  DuplicateKeyTracker tracker(duplicates);
  Json root;
  try {
    root = Json::parse(text, [&tracker](int, nlohmann::detail::parse_event_t event, Json& parsed) {
      return tracker.on_event(event, parsed);
    });
  } catch (const Json::parse_error& e) {
    out.problems.push_back(
        Problem{Severity::error, "json_syntax", source, "", "", std::string("not valid JSON: ") + e.what()});
    return out;
  }
  if (!root.is_object()) {
    out.problems.push_back(Problem{Severity::error, "json_not_object", source, "", "",
                                   "top level is " + std::string(root.type_name()) + ": expected a JSON object"});
    return out;
  }
  for (const std::string& key : duplicates) {
    const bool case_id = key.rfind("dataset.", 0) == 0 && key.find('.', 8) == std::string::npos;
    out.problems.push_back(Problem{
        Severity::error, case_id ? "duplicate_case_id" : "json_duplicate_key", source, case_id ? key.substr(8) : "",
        key, "key '" + key + "' appears more than once: expected unique keys (only one of them would be used)"});
  }
  DatasetJson json;
  Parser parser(source, endings, out);
  parser.parse(root, json);
  out.json = std::move(json);
  return out;
}

}  // namespace nnuc::data
