// Ensembling of predictions (spec §9.4, nnU-Net's nnunetv2/ensembling/ensemble.py): the members'
// probabilities (CASE.npz, member "probabilities", f32 (K, a0, a1, a2) in the reader's axis order
// and original shape, written by `nnuc predict --save-probabilities` or `nnuc train --npz`) are
// averaged as nnU-Net does (float32: the first member, then each further member added in member
// order, then divided by the member count), turned into a label map (argmax, or region thresholding)
// and written as CASE<file_ending> with the properties (CASE.json, nnuc's stand-in for CASE.pkl) of
// the first member, so with exactly that member's geometry.
//
// Members must agree, case by case: the probabilities' shape, the reader's spacing and the reader
// properties (the NIfTI geometry). Their other properties may differ (a 2d and a 3d_fullres member
// have different target spacings).
//
// Outputs are written to a staging folder inside the output folder and moved into place only when
// every case succeeded: an error leaves no new case file (the first failing case, in case order, is
// rethrown, its message naming the case and the member folders). Cases run in parallel
// (EnsembleOptions::threads), each on one thread.
#pragma once

#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "kernels/core/tensor.h"

namespace nnuc::planner {

// nnU-Net's LabelManager.convert_probabilities_to_segmentation:
//   labels:  all_labels[argmax_c p[c]] per voxel (the first maximum wins, as np.argmax);
//   regions: 0, then regions_class_order[i] wherever p[i] > 0.5, channel after channel.
// requires: probabilities f32 (K, a0, a1, a2) on the host, K = dataset.num_segmentation_heads().
// ensures: u8 (a0, a1, a2) when every label written is <= 255, else i16.
Tensor segmentation_from_probabilities(const Tensor& probabilities, const data::DatasetJson& dataset);

// One case to ensemble: its CASE.npz in each member (CASE.json beside each).
struct EnsembleCase {
  std::string identifier;
  std::vector<std::string> member_files;  // the members' CASE.npz, in member order
};

struct EnsembleOptions {
  int threads = 8;        // cases in parallel (<= 0: min(8, cores))
  bool save_npz = false;  // also write OUT/CASE.npz (averaged probabilities) and OUT/CASE.json
  bool overwrite = true;  // false: cases whose OUT/CASE<file_ending> exists are skipped
};

struct EnsembleResult {
  std::vector<std::string> cases;    // identifiers written, sorted
  std::vector<std::string> skipped;  // identifiers skipped (overwrite = false)
};

// Ensembles `cases` into output_folder (created when missing); see the top of this file.
// `member_names` name the members in messages (one per member: their folders).
// Errors (InvalidInput / IoError) name the case and the member folder(s): a missing CASE.json, an
// unreadable npz, a probabilities member of another rank or channel count than dataset.json asks
// for, members whose shapes or geometry differ.
EnsembleResult ensemble_cases(const std::vector<EnsembleCase>& cases, const std::vector<std::string>& member_names,
                              const std::string& output_folder, const data::DatasetJson& dataset,
                              const EnsembleOptions& options);

// nnUNetv2_ensemble: every case with a CASE.npz in the input folders, ensembled into output_folder;
// dataset.json (and plans.json when present) are read from the first input folder, as nnU-Net
// does, and copied to output_folder.
// requires: at least 2 input folders, each holding the same cases' .npz files (InvalidInput naming
//   the folder and the case that is missing, or the folder without any .npz).
EnsembleResult ensemble_folders(const std::vector<std::string>& input_folders, const std::string& output_folder,
                                const EnsembleOptions& options = {});
// The same with dataset.json given (labels, regions, file ending).
EnsembleResult ensemble_folders(const std::vector<std::string>& input_folders, const std::string& output_folder,
                                const data::DatasetJson& dataset, const EnsembleOptions& options = {});

// nnU-Net's ensemble_crossvalidations: the cross-validation predictions of several model folders
// (MODEL/fold_k/validation/CASE.npz for k in folds) ensembled into output_folder, with the first
// model's plans.json and dataset.json copied there. With options.overwrite, case files of
// output_folder that no fold predicts (a previous ensemble's) are removed.
// Errors name the folder: a missing fold_k/validation (train the fold), a validation folder without
// .npz (train with --npz, or rerun its validation: nnuc train ... --val --npz), a case in two folds
// of one model, a case that one model predicts and another does not.
EnsembleResult ensemble_crossvalidations(const std::vector<std::string>& model_folders,
                                         const std::vector<std::string>& folds, const std::string& output_folder,
                                         const EnsembleOptions& options = {});

// Copies `from` to `to` atomically (data::write_file_atomic). IoError naming both.
void copy_file_atomic(const std::string& from, const std::string& to);

}  // namespace nnuc::planner
