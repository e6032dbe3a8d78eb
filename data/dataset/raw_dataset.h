// Raw-dataset discovery (nnunet_method.md §1.2): which cases a raw dataset holds, which files make
// up each case, and which folder a dataset id or name refers to.
//
// Discovery follows nnU-Net (get_filenames_of_train_images_and_targets): with a "dataset" dict in
// dataset.json its entries are used ($VARS expanded, relative paths resolved against the dataset
// folder); otherwise imagesTr is scanned. It is lenient like nnU-Net's; the verifier
// (data/dataset/verification.h) is the strict check. One deliberate difference: hidden files (names
// starting with '.', e.g. macOS "._x" junk or an interrupted writer's temp files) are never cases.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"

namespace nnuc::data {

// One case: its channel files (channel order) and its label file (empty for prediction inputs).
struct RawCase {
  std::string id;
  std::vector<std::string> images;
  std::string label;
};

// Case identifiers in a folder of channel files `{CASE}_{XXXX}{file_ending}`: every non-hidden regular
// file ending in `file_ending`, minus its last len(file_ending) + 5 characters; sorted, unique
// (get_identifiers_from_splitted_dataset_folder). Throws IoError when `folder` is not a directory.
std::vector<std::string> find_case_ids(const std::string& folder, const std::string& file_ending);

// The channel files of one case: names matching ^{case_id}_\d{4}{file_ending}$, sorted, as full paths
// (create_lists_from_splitted_dataset_folder).
std::vector<std::string> find_channel_files(const std::string& folder, const std::string& case_id,
                                            const std::string& file_ending);

// The training cases of the raw dataset in `dataset_folder`: the "dataset" dict's entries in file
// order, or (no dict) imagesTr's cases sorted by id with labels labelsTr/{CASE}{file_ending}. File
// existence is not checked (the verifier does). Throws IoError when imagesTr is missing (no dict).
std::vector<RawCase> find_training_cases(const std::string& dataset_folder, const DatasetJson& json);

// Cases of an inference input folder (or imagesTs): ids and channel files, no labels.
std::vector<RawCase> find_prediction_cases(const std::string& folder, const std::string& file_ending);

// os.path.expandvars: replaces $NAME and ${NAME} by the environment variable's value; names that are
// not set are left as written.
std::string expand_env_vars(const std::string& text);

// A path from dataset.json: $VARS expanded; relative paths joined to `dataset_folder`, normalized.
std::string resolve_dataset_path(const std::string& dataset_folder, const std::string& path);

// ---- dataset ids and names -------------------------------------------------------------------------

// The three nnU-Net roots ($nnUNet_raw, $nnUNet_preprocessed, $nnUNet_results); empty when unset.
struct NnunetRoots {
  std::string raw;
  std::string preprocessed;
  std::string results;
  static NnunetRoots from_environment();
};

// "DatasetXXX_Name" for an id (XXX = %03d).
std::string dataset_folder_prefix(int dataset_id);
// The id in "4", "004" or "Dataset004_Name"; nullopt otherwise.
std::optional<int> parse_dataset_id(const std::string& id_or_name);
// Every distinct folder name "Dataset%03d_*" under the roots that exist (sorted).
std::vector<std::string> find_candidate_datasets(int dataset_id, const NnunetRoots& roots);
// maybe_convert_to_dataset_name: a name starting with "Dataset" is returned as is; an id must match
// exactly one distinct name under the roots (InvalidInput otherwise, naming the roots searched).
std::string dataset_name_from_id_or_name(const std::string& id_or_name, const NnunetRoots& roots);
// The raw dataset folder of `id_or_name` under roots.raw (InvalidInput when roots.raw is empty or the
// folder does not exist).
std::string raw_dataset_folder(const std::string& id_or_name, const NnunetRoots& roots);

}  // namespace nnuc::data
