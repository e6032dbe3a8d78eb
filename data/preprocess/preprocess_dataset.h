// Preprocessing a whole dataset configuration: every case loaded, preprocessed (preprocess_case.h)
// and written to the preprocessed store (store.h), on a thread pool with progress reports.
#pragma once

#include <string>
#include <vector>

#include "data/preprocess/case_source.h"
#include "data/preprocess/driver.h"
#include "data/preprocess/preprocess_case.h"

namespace nnuc::data {

// "<folder>/<identifier>.nnuc".
std::string preprocessed_case_path(const std::string& folder, const std::string& identifier);

// Loads case i (load(i)), preprocesses it with `plan` and writes it atomically to
// preprocessed_case_path(output_folder, identifier), for i in [0, num_cases) on run.workers threads.
// Creates output_folder when missing; leaves other files in it alone. Returns the written paths in
// case order. A failing case stops the run and is rethrown naming the case (driver.h).
std::vector<std::string> preprocess_dataset(std::size_t num_cases, const CaseLoader& load,
                                            const PreprocessingPlan& plan, const std::string& output_folder,
                                            const RunOptions& run = {});

}  // namespace nnuc::data
