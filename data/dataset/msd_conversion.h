// Medical Segmentation Decathlon task → nnU-Net v2 raw dataset (nnUNetv2_convert_MSD_dataset), and an
// nnU-Net v1 raw dataset → v2 (nnUNetv2_convert_old_nnUNet_dataset, at the end).
//
// TaskNN_Name/{dataset.json, imagesTr/, labelsTr/, imagesTs/} becomes
// <output_root>/DatasetNNN_Name/{dataset.json, imagesTr/, labelsTr/, imagesTs/}:
//   * images (3-D or 4-D NIfTI, no channel suffix) are split into one file per channel
//     CASE_0000.nii.gz, CASE_0001.nii.gz, ... (a 3-D file is copied unchanged to CASE_0000.nii.gz);
//     the spatial geometry of the 4-D file is kept (its 4th axis dropped), as nnU-Net does;
//   * labels are copied unchanged;
//   * names starting with '.' or '_' (macOS "._x" junk in the tarballs) are skipped;
//   * dataset.json: "modality" becomes "channel_names", "labels" {"0": "background", "1": "x"} becomes
//     {"background": 0, "x": 1}, "file_ending" is ".nii.gz", "training" and "test" are dropped, every
//     other key is kept.
// The target id (NN unless overridden) must not be taken in any nnU-Net root (nnU-Net's rule).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "data/dataset/dataset_json.h"
#include "data/dataset/raw_dataset.h"

namespace nnuc::data {

struct MsdConversionOptions {
  std::optional<int> overwrite_id;  // target dataset id instead of the task's number
  int threads = 0;                  // files converted in parallel; 0 = hardware concurrency (at most 8)
  NnunetRoots roots_to_check;       // preprocessed/results roots also searched for a taken id
};

struct MsdConversionResult {
  std::string dataset_folder;  // <output_root>/DatasetNNN_Name
  std::string dataset_name;    // DatasetNNN_Name
  int training_images = 0;     // source files converted from imagesTr
  int test_images = 0;         // ... from imagesTs
  int labels = 0;              // label files copied
  int channels_written = 0;    // channel files written in total
};

// The v2 dataset.json for an MSD dataset.json document (`source` names the file in errors).
// Throws InvalidInput naming the field when "modality" or "labels" are not in MSD's form.
DatasetJson convert_msd_dataset_json(const nlohmann::ordered_json& msd, const std::string& source);

// Splits one MSD image into CASE_XXXX.nii.gz files in `output_folder`; returns how many were written.
// Throws IoError / InvalidInput (dimensionality other than 3 or 4) naming the file.
int split_4d_nifti(const std::string& file, const std::string& output_folder);

// Converts the task folder; see the top of this file. Every file is attempted; failures are
// collected and thrown together (IoError listing each file and reason), in which case no
// dataset.json is written.
MsdConversionResult convert_msd_dataset(const std::string& task_folder, const std::string& output_root,
                                        const MsdConversionOptions& options = {});

// nnU-Net v1 raw dataset -> nnU-Net v2 (nnUNetv2_convert_old_nnUNet_dataset): the files of imagesTr/,
// labelsTr/ and, where present, imagesTs/, labelsTs/, imagesVal/, labelsVal/ are copied unchanged
// (v1 already holds one file per channel) to <output_root>/<target_dataset_name>/; dataset.json is
// converted as for MSD, with tensorImageSize and numTest dropped too. target_dataset_name must be
// DatasetXXX_Name; the target folder must not exist and its id must not be taken in any nnU-Net
// root. Copy failures are thrown together and leave no dataset.json. (overwrite_id is not used.)
struct OldNnunetConversionResult {
  std::string dataset_folder;
  std::string dataset_name;
  int files_copied = 0;
};
OldNnunetConversionResult convert_old_nnunet_dataset(const std::string& task_folder, const std::string& output_root,
                                                     const std::string& target_dataset_name,
                                                     const MsdConversionOptions& options = {});

}  // namespace nnuc::data
