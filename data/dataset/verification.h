// Raw-dataset verification (`nnuc verify`): every check of nnU-Net's verify_dataset_integrity, plus
// the gaps listed in shared/spec/reliability.md T10, with ALL problems collected and reported with
// their paths, and a verification record that planning checks.
//
// Checks (code → severity):
//   dataset.json: json_syntax, json_not_object, json_missing_key, json_bad_value, json_duplicate_key,
//     duplicate_case_id (dict), labels_no_background, labels_background_not_zero, labels_ignore_not_integer,
//     labels_ignore_not_highest, labels_not_consecutive, labels_out_of_range, regions_missing_class_order,
//     regions_class_order_length, file_ending_unsupported, dataset_entry_channel_count → error;
//     labels_duplicate_value, regions_class_order_unused/_value, reader_writer_ignored → warning.
//   layout: dataset_folder_missing, dataset_json_missing, folder_missing (imagesTr/labelsTr),
//     num_training_mismatch, missing_channel, unexpected_channel, missing_label, missing_image,
//     bad_file_name, file_ending_mismatch, no_cases → error; stray_file, label_without_images,
//     duplicate_case_id (ids equal up to letter case), shared_file → warning; the same checks on
//     imagesTs (when present) are warnings.
//   content (every case, in parallel): unreadable_file, image_not_3d, label_not_3d, image_nan,
//     image_inf, label_nan, label_inf, label_not_integer, label_unexpected_values,
//     label_value_out_of_range (< 0 or > 65535), label_rejected_by_reader, shape_mismatch and
//     spacing_mismatch (channels vs channel 0 and label vs channel 0) → error; origin_mismatch,
//     direction_mismatch, label_all_background, nifti_warning → warning.
// Tolerances follow nnU-Net (np.allclose: |a − b| ≤ 1e-8 + 1e-5·|b|).
//
// Verification record: `<dataset>/nnuc_verification.json` holds the report and a state hash
// (FNV-1a 64 over dataset.json's bytes and the name, size and modification time of every entry of
// imagesTr/ and labelsTr/ and of every file the "dataset" dict names). dataset_verified() is true only
// when the record says ok (no errors) and the hash still matches: editing dataset.json, adding,
// removing or rewriting a case file invalidates it. Planning refuses a dataset that is not verified
// unless told otherwise.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset/problem.h"
#include "data/nifti/nifti_io.h"

namespace nnuc::data {

struct VerifyOptions {
  int threads = 0;                // case readers in parallel; 0 = hardware concurrency (at most 8)
  NiftiReadOptions read_options;  // byte caps of the reader
  bool check_test_images = true;  // also check imagesTs/ naming and channels (as warnings)
  std::function<void(std::size_t done, std::size_t total)> progress;  // after each case (serialized)
};

struct VerificationReport {
  std::string dataset_folder;
  std::int64_t num_training_declared = -1;  // -1 when dataset.json has no valid numTraining
  std::size_t num_cases_found = 0;          // training cases discovered
  std::size_t num_cases_read = 0;           // cases whose files were read and checked
  std::vector<Problem> problems;            // dataset-level first, then per case (case order), stable

  bool ok() const { return count_severity(problems, Severity::error) == 0; }
  std::size_t num_errors() const { return count_severity(problems, Severity::error); }
  std::size_t num_warnings() const { return count_severity(problems, Severity::warning); }
  // Machine-readable report: {"dataset", "ok", "errors", "warnings", "num_training", "cases_found",
  // "cases_read", "problems": [...]}.
  nlohmann::ordered_json to_json() const;
  // Human summary: one line per problem (up to max_lines, then a count of the rest) and a verdict.
  std::string summary(std::size_t max_lines = 200) const;
  // Problems with this code (tests, scripts).
  std::vector<Problem> with_code(const std::string& code) const;
};

// Verifies the raw dataset in `dataset_folder`. Never throws for problems in the dataset (they are
// reported); throws only for programming errors (bad options).
VerificationReport verify_dataset(const std::string& dataset_folder, const VerifyOptions& options = {});

// ---- verification record ---------------------------------------------------------------------------

constexpr const char* kVerificationRecordName = "nnuc_verification.json";

// The state hash described above, as 16 hex digits. Throws IoError when dataset.json is unreadable.
std::string dataset_state_hash(const std::string& dataset_folder);

// Writes `<dataset_folder>/nnuc_verification.json` (atomically) for `report`, whether ok or not.
void write_verification_record(const std::string& dataset_folder, const VerificationReport& report);

struct VerificationStatus {
  bool verified = false;
  std::string reason;  // why not: no record, failed with N errors, dataset changed since, unreadable record
};
// Never throws.
VerificationStatus verification_status(const std::string& dataset_folder);
// verification_status(dataset_folder).verified.
bool dataset_verified(const std::string& dataset_folder);

}  // namespace nnuc::data
