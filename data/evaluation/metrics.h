// Evaluation of predicted label maps against reference label maps (nnunet_method.md §10): nnU-Net's
// compute_metrics_on_folder and its summary.json.
//
// Per case and label/region r (a region's mask is the union of its labels; predictions are label
// maps, so regions are evaluated on label maps too), over the voxels whose REFERENCE is not the
// ignore label:
//   TP, FP, FN, TN    voxel counts (integers in summary.json)
//   Dice = 2 TP / (2 TP + FP + FN),  IoU = TP / (TP + FP + FN)   both NaN when TP + FP + FN = 0
//   n_pred = TP + FP,  n_ref = TP + FN
// mean[r][m]          = np.nanmean over cases (NaN when every case is NaN)
// foreground_mean[m]  = np.mean over r of mean[r][m] (the plain label 0 skipped; NaN propagates)
// Sums are numpy's pairwise summation over float64 (blocks of <= 128 with 8 accumulators, larger
// ranges split in halves rounded down to a multiple of 8), NaN replaced by 0 for nanmean; so the
// means agree with nnU-Net's to the last bit (tests/data/evaluation_test.cpp, against a fixture
// written by nnunetv2 itself).
//
// summary.json (written as Python's json.dump(sort_keys=True, indent=4), NaN as NaN):
//   {"foreground_mean": {"Dice", "FN", "FP", "IoU", "TN", "TP", "n_pred", "n_ref"},
//    "mean": {"1": {...}, "(1, 2)": {...}},        keys sorted as strings; regions as str(tuple)
//    "metric_per_case": [{"metrics": {key: {...}}, "prediction_file": path, "reference_file": path}, ...]}
// Cases are the prediction folder's files ending in the file ending, sorted by name, each compared
// with the file of the same name in the reference folder (paths joined like os.path.join).
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "kernels/core/tensor.h"

namespace nnuc::data {

// One evaluated class: a label (is_region = false, one value) or a region (the union of `labels`).
struct LabelOrRegion {
  std::vector<int> labels;
  bool is_region = false;
  // nnU-Net's key: str(label) "1", or str(tuple) "(1, 2)" / "(2,)" for a region.
  std::string key() const;
  bool operator==(const LabelOrRegion& other) const { return labels == other.labels && is_region == other.is_region; }
};

// What nnU-Net evaluates for a dataset: the foreground regions in region mode (file order; a label
// written as a list is a region even with one value, a plain integer stays a label), else the
// foreground labels (all labels but background and ignore, sorted).
std::vector<LabelOrRegion> labels_or_regions_from_dataset(const DatasetJson& dataset);
// Plain labels, as given (nnUNetv2_evaluate_simple -l). requires: no label listed twice.
std::vector<LabelOrRegion> labels_from_list(const std::vector<int>& labels);
// The inverse of key(): "1" -> label 1, "(1, 2)" -> region {1, 2}. InvalidInput for anything else.
LabelOrRegion label_or_region_from_key(const std::string& key);

struct RegionCounts {
  double tp = 0, fp = 0, fn = 0, tn = 0;
};

// TP/FP/FN/TN of every item in one case.
// requires: reference and prediction i16 host tensors of the same shape (any rank).
// ensures: one entry per item, in order; voxels whose reference equals ignore_label are not counted.
std::vector<RegionCounts> count_case(const Tensor& reference, const Tensor& prediction,
                                     const std::vector<LabelOrRegion>& items, std::optional<int> ignore_label);

// One entry of metric_per_case, as nnU-Net writes it (integers for the counts, Dice/IoU NaN as above).
nlohmann::ordered_json case_metrics_json(const std::vector<RegionCounts>& counts,
                                         const std::vector<LabelOrRegion>& items, const std::string& reference_file,
                                         const std::string& prediction_file);
// The whole summary from metric_per_case entries (in case order): adds mean and foreground_mean.
// requires: at least one case; every case holds every item's metrics.
nlohmann::ordered_json summarize_cases(const std::vector<nlohmann::ordered_json>& metric_per_case,
                                       const std::vector<LabelOrRegion>& items);

// os.path.join(folder, name).
std::string join_path(const std::string& folder, const std::string& name);
// The files of `folder` whose names end in `file_ending`, sorted (batchgenerators' subfiles; temp
// files of nnuc's atomic writes, ".tmp-*", are skipped). InvalidInput when the folder is missing.
std::vector<std::string> list_case_files(const std::string& folder, const std::string& file_ending);
// ".nii.gz" when the folder holds such files, else ".nii" when it holds those; else InvalidInput.
std::string detect_file_ending(const std::string& folder);

struct CasePairing {
  std::vector<std::string> files;                // prediction file names (sorted), each with a reference
  std::vector<std::string> missing_predictions;  // reference files without a prediction
};
// Pairs the prediction folder's cases with the reference folder's. InvalidInput naming the folder and
// the file when: a folder is missing, the prediction folder holds no case, a prediction has no
// reference, or (unless chill) a reference has no prediction.
CasePairing pair_case_files(const std::string& reference_folder, const std::string& prediction_folder,
                            const std::string& file_ending, bool chill);

// Reads a reference and a prediction label map and checks that they lie on the same grid: the same
// shape (else InvalidInput naming both files and shapes), spacing, origin and direction within
// |a - b| <= 1e-4 + 1e-5 |b| (nnU-Net does not check; a prediction on another grid is an error here).
struct CasePair {
  Tensor reference;   // i16 (a0, a1, a2)
  Tensor prediction;  // i16 (a0, a1, a2)
};
CasePair read_case_pair(const std::string& reference_file, const std::string& prediction_file);

// nnU-Net's compute_metrics_on_folder: pairs the folders (pair_case_files), evaluates each case on
// `threads` threads (<= 0: min(8, cores)) and returns the summary. The first failing case (in case
// order) is rethrown, its message naming the case's files.
nlohmann::ordered_json evaluate_folders(const std::string& reference_folder, const std::string& prediction_folder,
                                        const std::vector<LabelOrRegion>& items, std::optional<int> ignore_label,
                                        const std::string& file_ending, int threads, bool chill);

// Writes summary.json atomically, as nnU-Net's save_summary_json (sorted keys, indent 4, NaN as NaN).
void write_summary(const std::string& path, const nlohmann::ordered_json& summary);
// Reads a summary.json (nnU-Net's or nnuc's; NaN tokens accepted). IoError / InvalidInput naming it.
nlohmann::ordered_json read_summary(const std::string& path);
// summary["foreground_mean"]["Dice"], and summary["mean"][key]["Dice"]; InvalidInput when absent.
double foreground_mean_dice(const nlohmann::ordered_json& summary);
double mean_dice(const nlohmann::ordered_json& summary, const std::string& key);

// Runs work(i) for i in [0, count) on min(threads, count) threads (threads <= 0: min(8, cores)).
// Every item runs even when some fail; then the exception of the smallest failing i is rethrown.
void for_each_case(std::size_t count, int threads, const std::function<void(std::size_t)>& work);

}  // namespace nnuc::data
