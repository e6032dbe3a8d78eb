// Reusing one dataset's plans on another (nnU-Net's nnUNetv2_move_plans_between_datasets), the first
// step of fine-tuning a model pretrained on SOURCE: the moved plans give TARGET the same network
// topology, patch, spacing and normalization (CT statistics included), so the pretrained weights fit.
// Then `nnuc preprocess -d TARGET -plans_name P` (plan_and_preprocess.h: preprocess_with_plans) and
// `nnuc train TARGET C F -p P -pretrained_weights FILE` (nn/pretrained_weights.h).
#pragma once

#include <string>
#include <vector>

#include "data/dataset/raw_dataset.h"

namespace nnuc::planner {

struct MovePlansOptions {
  std::string source_dataset;                // id or name under $nnUNet_preprocessed
  std::string target_dataset;                // id or name under $nnUNet_raw (its dataset.json is read)
  std::string source_plans = "nnUNetPlans";  // PREPROCESSED/SOURCE/<source_plans>.json
  std::string target_plans;                  // empty: source_plans
  bool overwrite = false;                    // replace an existing PREPROCESSED/TARGET/<target_plans>.json
};

struct MovedPlans {
  std::string file;                           // PREPROCESSED/TARGET/<target_plans>.json
  std::vector<std::string> data_identifiers;  // of its configurations, after renaming
};

// As nnU-Net: the document is copied with dataset_name = TARGET, plans_name = target_plans, each
// configuration's data_identifier renamed when the plans name changes ("<source_plans>_X" becomes
// "<target_plans>_X", any other "<target_plans>_<old>"), and image_reader_writer chosen for TARGET's
// dataset.json. Everything else, custom configurations included, is kept as it is. Checked first:
// the source plans parse (planner/plans_read.h) and hold as many normalization schemes as TARGET has
// channels. InvalidInput naming the file otherwise, or when the target file exists (and !overwrite).
MovedPlans move_plans_between_datasets(const MovePlansOptions& options, const data::NnunetRoots& roots);

}  // namespace nnuc::planner
