// dataset.json of an nnU-Net v2 raw dataset (nnunet_method.md §1.3): the model, its parser and writer.
//
// The parser checks what nnU-Net's LabelManager and verify_dataset_integrity check on the document
// itself, and collects every problem (field, value found, value expected) instead of stopping at the
// first. Key order is kept (labels are read in file order: regions are matched to
// regions_class_order by that order, as in nnU-Net).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset/problem.h"

namespace nnuc::data {

// nnuc stores label maps as int16: declared label values must fit.
constexpr int kMaxLabelValue = 32767;

// One entry of "labels": a name and one integer, or (region training) a list of integers.
struct LabelDefinition {
  std::string name;
  std::vector<int> values;  // one value for a plain label; the label ids that a region unites otherwise
  bool is_list = false;     // written as a JSON list; only lists of more than one value make a region
};

// One case of the optional "dataset" dict, paths as written in the file (before $VAR expansion).
struct DatasetEntry {
  std::string id;
  std::vector<std::string> images;
  std::string label;
};

struct DatasetJson {
  std::vector<std::string> channel_names;  // channel i's name ("CT", "T2", ...); from "modality" when legacy
  bool legacy_modality = false;            // the file used "modality" instead of "channel_names"
  std::vector<LabelDefinition> labels;     // file order, including background and ignore
  std::optional<std::vector<int>> regions_class_order;
  std::int64_t num_training = 0;
  std::string file_ending;                                          // ".nii.gz" or ".nii"
  std::string overwrite_image_reader_writer;                        // empty when absent or "None"
  std::optional<std::vector<DatasetEntry>> dataset;                 // the "dataset" dict, in file order
  nlohmann::ordered_json other = nlohmann::ordered_json::object();  // every other key (name, licence, ...)

  int num_channels() const { return static_cast<int>(channel_names.size()); }
  // Region mode: some label value is a list with more than one element (nnU-Net's rule).
  bool has_regions() const;
  // The "ignore" label's value, when declared.
  std::optional<int> ignore_label() const;
  // Sorted unique label ids over all entries except "ignore" (LabelManager.all_labels).
  std::vector<int> all_labels() const;
  // all_labels() plus the ignore label: every value a label file may contain.
  std::vector<int> allowed_label_values() const;
  // Foreground regions in file order (background and ignore skipped); only meaningful with regions.
  std::vector<std::vector<int>> foreground_regions() const;
  // Network output channels: number of regions in region mode, else all_labels().size().
  int num_segmentation_heads() const;
};

// Result of the collecting parser. `json` is empty only when the text is not a JSON object; otherwise
// it holds every part that could be read, and the flags say which parts are trustworthy.
struct DatasetJsonParse {
  std::optional<DatasetJson> json;
  std::vector<Problem> problems;
  bool channels_ok = false;     // channel_names (or modality) is valid
  bool labels_ok = false;       // labels (+ regions_class_order) pass every rule
  bool file_ending_ok = false;  // file_ending is a supported ending
  bool num_training_ok = false;
  bool dataset_dict_ok = true;  // the "dataset" dict, when present, is well-formed
};

// The file endings a dataset.json may declare: NIfTI, the images nnuc reads (default), or any ending
// (".png", ".tif", ...): planning from a fingerprint reads no image, so nnU-Net's other formats plan
// too (the planner names their reader/writer).
enum class FileEndings { nifti, any };

// Parses dataset.json text; `source` names the file in messages. Never throws on bad content: every
// problem goes to the result (codes: json_syntax, json_not_object, json_missing_key, json_bad_value,
// json_duplicate_key, labels_*, regions_*, file_ending_*).
DatasetJsonParse parse_dataset_json_collect(const std::string& text, const std::string& source,
                                            FileEndings endings = FileEndings::nifti);

// Parses and validates; throws InvalidInput listing every error (warnings are dropped).
DatasetJson parse_dataset_json(const std::string& text, const std::string& source,
                               FileEndings endings = FileEndings::nifti);
// Reads `path` (IoError when unreadable) and parses it as above. The one dataset.json reader: the
// verifier, preprocessing and the planner all read dataset.json through it.
DatasetJson load_dataset_json(const std::string& path, FileEndings endings = FileEndings::nifti);

// The document nnU-Net would write: channel_names, labels, numTraining, file_ending, then the optional
// keys, then `other` (in its order).
nlohmann::ordered_json dataset_json_to_json(const DatasetJson& json);
// Writes dataset.json atomically (temp file in the same folder, then rename).
void save_dataset_json(const std::string& path, const DatasetJson& json);

// The file endings nnuc reads (NIfTI only).
bool is_supported_file_ending(const std::string& file_ending);

}  // namespace nnuc::data
