// Parts of the dataset verifier (internal to data/dataset; see verification.h for the checks).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "data/dataset/dataset_json.h"
#include "data/dataset/problem.h"
#include "data/dataset/verification.h"

namespace nnuc::data::detail {

// The files of one training case as the layout check found them: images[c] is channel c's path,
// empty when that channel file is missing; label is empty when the label file is missing.
struct CaseFiles {
  std::string id;
  std::vector<std::string> images;
  std::string label;
};

struct LayoutCheck {
  std::vector<Problem> problems;
  std::optional<DatasetJson> json;
  std::vector<CaseFiles> cases;                    // in nnU-Net's order (sorted ids, or the dict's order)
  std::optional<std::vector<int>> allowed_labels;  // when labels are valid: all labels + ignore
  bool can_check_cases = false;                    // false when the layout is too broken to read cases
};

// dataset.json and folder layout: naming, channels, labels present, stray files, numTraining.
LayoutCheck check_layout(const std::string& dataset_folder, const VerifyOptions& options);

// Reads one case's files and checks their content and geometry; returns its problems.
std::vector<Problem> check_case_content(const CaseFiles& files, const std::optional<std::vector<int>>& allowed_labels,
                                        const NiftiReadOptions& read_options);

// np.allclose(a, b) with rtol 1e-5, atol 1e-8.
bool all_close(const double* a, const double* b, int count);

}  // namespace nnuc::data::detail
