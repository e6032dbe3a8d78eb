// Postprocessing (nnunet_method.md §9.1-9.3): nnU-Net's "keep largest component" steps, chosen on
// cross-validation predictions, applied to new predictions; and the cross-validation accumulation
// that the choice runs on.
//
// determine_postprocessing (nnU-Net's determine_postprocessing, §9.2):
//   1. evaluate the raw predictions -> PRED/summary.json;
//   2. candidate A: keep-largest on the union of all foreground labels (integer labels, also in
//      region mode) -> accepted iff foreground_mean Dice strictly increases and no label/region's
//      mean Dice decreases (comparisons as Python's: a NaN never increases nor decreases);
//   3. with more than one label/region: for each in order, keep-largest of that label/region alone
//      on top of the accepted result -> accepted iff its mean Dice strictly increases;
//   4. PRED/postprocessed/ = the accepted result's files + summary.json, and PRED/postprocessing.json:
//        {"input_folder": {"foreground_mean", "mean"}, "postprocessed": {"foreground_mean", "mean"},
//         "postprocessing_fns": ["remove_all_but_largest_component_from_segmentation", ...],
//         "postprocessing_kwargs": [{"labels_or_regions": [1, 2]}, {"labels_or_regions": 1}, ...]}
//      (a label's kwargs is an integer, a region's or candidate A's a list). nnU-Net's pickle
//      postprocessing.pkl is not written; nnuc postprocess reads it (nn/pth/postprocessing_pickle.h).
// Every step runs in a staging folder inside PRED; postprocessed/ and postprocessing.json replace
// the old ones only after every step succeeded, so a failure leaves PRED as it was (apart from
// summary.json, which step 1 writes). The summaries' prediction_file paths name the files in
// PRED/postprocessed.
//
// A keep-largest step writes every case with the geometry of the file it read (write_nifti_label
// carries the header geometry unchanged), so the outputs lie exactly on the predictions' grid.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/evaluation/metrics.h"
#include "kernels/core/tensor.h"

namespace nnuc::data {

// The one postprocessing function nnU-Net chooses from, by its Python name.
inline constexpr const char* kKeepLargestComponentFunction = "remove_all_but_largest_component_from_segmentation";

// One step: voxels of the union of `labels` outside its largest component(s) (full connectivity)
// become background 0.
struct PostprocessingStep {
  std::vector<int> labels;                   // the union the step acts on
  nlohmann::ordered_json labels_or_regions;  // the kwarg as postprocessing.json writes it: 1 or [1, 2]
  bool operator==(const PostprocessingStep& other) const {
    return labels == other.labels && labels_or_regions == other.labels_or_regions;
  }
};

// The step of one label (kwarg an integer) or region (kwarg a list).
PostprocessingStep keep_largest_step(const LabelOrRegion& item);
// The step on the union of several labels (candidate A: kwarg the list of labels).
PostprocessingStep keep_largest_step(const std::vector<int>& labels);

// Applies the steps in order. requires: segmentation i16 (a0, a1, a2) on the host.
Tensor apply_postprocessing_steps(const Tensor& segmentation, const std::vector<PostprocessingStep>& steps);

struct PostprocessingResult {
  std::vector<PostprocessingStep> steps;         // the accepted steps, in order
  nlohmann::ordered_json input_summary;          // the raw predictions' summary (PRED/summary.json)
  nlohmann::ordered_json postprocessed_summary;  // PRED/postprocessed/summary.json
  std::vector<std::string> messages;             // one line per candidate: accepted or not, Dice before/after
  std::vector<std::string> missing_predictions;  // reference cases without a prediction (a warning)
};

// nnU-Net's determine_postprocessing on `prediction_folder` vs `reference_folder` (see above).
// requires: items = the dataset's labels_or_regions_from_dataset. Errors (InvalidInput / IoError)
// name the folder or case: missing folder, no prediction, a prediction without reference, a shape
// or grid mismatch, an unreadable file.
PostprocessingResult determine_postprocessing(const std::string& prediction_folder, const std::string& reference_folder,
                                              const std::vector<LabelOrRegion>& items, std::optional<int> ignore_label,
                                              const std::string& file_ending, int threads);

// postprocessing.json as nnU-Net writes it.
nlohmann::ordered_json postprocessing_json(const PostprocessingResult& result);
// The steps of a postprocessing.json (nnU-Net's or nnuc's). InvalidInput naming the file and entry
// for an unknown function or a malformed kwargs entry.
std::vector<PostprocessingStep> load_postprocessing(const std::string& postprocessing_json_path);
// The same from the document already read; `file` names its source in messages (nnuc's reader of
// nnU-Net's postprocessing.pkl, nn/pth/postprocessing_pickle.h, turns the pickle into this document).
std::vector<PostprocessingStep> postprocessing_steps_from_json(const nlohmann::ordered_json& document,
                                                               const std::string& file);

// nnUNetv2_apply_postprocessing: every case (*file_ending) of input_folder, postprocessed, written
// to output_folder with its input's geometry (output_folder may equal input_folder). Cases are written
// to a staging folder first and moved into place only when all succeeded: an error leaves no new file.
// Without steps the files are copied byte for byte. file_ending "" = detect_file_ending(input_folder).
void apply_postprocessing(const std::string& input_folder, const std::string& output_folder,
                          const std::vector<PostprocessingStep>& steps, int threads,
                          const std::string& file_ending = "");
void apply_postprocessing(const std::string& input_folder, const std::string& output_folder,
                          const std::string& postprocessing_json_path, int threads,
                          const std::string& file_ending = "");

// Cross-validation accumulation (§9.3): copies every fold's validation/CASE{file_ending} into
// output_folder, removes case files there that no fold has (a previous accumulation's), evaluates
// output_folder against reference_folder (missing predictions allowed) and writes its summary.json.
// A case present in two folds is an InvalidInput naming both folders (checked before anything is
// copied). Returns the summary.
nlohmann::ordered_json accumulate_crossval(const std::vector<std::string>& fold_validation_folders,
                                           const std::string& output_folder, const std::string& reference_folder,
                                           const std::vector<LabelOrRegion>& items, std::optional<int> ignore_label,
                                           const std::string& file_ending, int threads);

}  // namespace nnuc::data
