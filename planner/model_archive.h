// Sharing trained models as zip archives, as nnU-Net's model_sharing does
// (nnUNetv2_export_model_to_zip, nnUNetv2_install_pretrained_model_from_zip). Member names are paths
// relative to the results root, so an archive of either tool installs into either tool's results:
//   DatasetXXX_Name/<trainer>__<plans>__<configuration>/
//       plans.json dataset.json [dataset_fingerprint.json]
//       fold_k/ <checkpoints> [debug.json progress.png network_architecture.pdf]
//               validation/summary.json   (--exp_cv_preds: every validation file but .npz / .pkl)
//       [crossval_results_folds_<folds>/ summary.json postprocessing.{pkl,json}]   (--exp_cv_preds: all)
//   DatasetXXX_Name/ensembles/<ensemble of exported models only>/ summary.json postprocessing.{pkl,json}
//   DatasetXXX_Name/inference_information.json, inference_instructions.txt, inference_information.txt
//
// Installing reads the whole central directory first and refuses the archive, writing nothing, when
// any member could leave the results root or is not a plain file or folder: absolute names, "..",
// backslashes, control characters, symbolic links, or a first component that is not DatasetXXX_Name.
// Each file is then written atomically (data::write_file_atomic) after its CRC-32 and size are
// checked; an existing file of the same name is replaced, as nnU-Net's extraction does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnuc::planner {

struct ModelExportOptions {
  std::vector<std::string> configurations{"3d_lowres", "3d_fullres", "2d", "3d_cascade_fullres"};
  std::string trainer = "nnUNetTrainer";
  std::string plans = "nnUNetPlans";
  std::vector<std::string> folds{"0", "1", "2", "3", "4"};  // "all" for fold_all
  // Checkpoint file names in each fold; a name without an extension is its .nnuc file where one
  // exists, else its .pth (nnU-Net's -chk takes "checkpoint_final.pth").
  std::vector<std::string> checkpoints{"checkpoint_final"};
  // nnU-Net's strict mode (its default): every configuration, fold and checkpoint must exist. Not
  // strict: missing configurations and checkpoints are skipped (and listed).
  bool strict = true;
  bool export_crossval_predictions = false;  // --exp_cv_preds
};

struct ModelExportResult {
  std::vector<std::string> members;  // archive names, in the order written
  std::vector<std::string> skipped;  // what strict mode would have refused, with the reason
  std::uint64_t bytes = 0;           // uncompressed bytes archived
};

// Writes the archive of RESULTS/DATASET_NAME's models to zip_path (atomically: libzip writes a temp
// file and renames it). InvalidInput naming the folder or file for what strict mode requires and
// cannot find; IoError when a file cannot be read or the archive cannot be written.
ModelExportResult export_model_zip(const std::string& results_root, const std::string& dataset_name,
                                   const std::string& zip_path, const ModelExportOptions& options = {});

struct ModelInstallResult {
  std::vector<std::string> files;          // the paths written
  std::vector<std::string> model_folders;  // RESULTS/DatasetXXX_Name/<T>__<P>__<C>, with plans.json
  int replaced = 0;                        // files that existed before
};

// Extracts zip_path into results_root (created when missing). InvalidInput naming the archive and the
// member for an archive that is refused (nothing is written then); IoError for an unreadable or
// corrupt archive (a bad CRC-32 or size leaves the files before it written and the rest untouched).
ModelInstallResult install_model_zip(const std::string& zip_path, const std::string& results_root);

// The reason a member name is refused, or empty when it is a safe relative path under a
// DatasetXXX_Name folder.
std::string unsafe_member_reason(const std::string& name);

}  // namespace nnuc::planner
