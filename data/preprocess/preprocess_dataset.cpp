#include "data/preprocess/preprocess_dataset.h"

#include <filesystem>

#include "data/preprocess/store.h"
#include "kernels/core/error.h"

namespace nnuc::data {

std::string preprocessed_case_path(const std::string& folder, const std::string& identifier) {
  NNUC_CHECK(!identifier.empty() && identifier.find('/') == std::string::npos,
             "a case identifier must be a non-empty file name, got '", identifier, "'");
  return (std::filesystem::path(folder) / (identifier + kStoreFileEnding)).string();
}

std::vector<std::string> preprocess_dataset(std::size_t num_cases, const CaseLoader& load,
                                            const PreprocessingPlan& plan, const std::string& output_folder,
                                            const RunOptions& run) {
  std::error_code error;
  std::filesystem::create_directories(output_folder, error);
  if (error) NNUC_THROW(IoError, "cannot create the output folder '", output_folder, "': ", error.message());
  std::vector<std::string> names(num_cases);
  std::vector<std::string> written(num_cases);
  run_cases(
      num_cases, [&](std::size_t i) { return names[i].empty() ? "#" + std::to_string(i) : names[i]; },
      [&](std::size_t i) {
        const LoadedCase input = load(i);
        names[i] = input.identifier;
        const PreprocessedCase preprocessed = preprocess_case(input, plan);
        written[i] = preprocessed_case_path(output_folder, input.identifier);
        write_preprocessed_case(written[i], preprocessed);
      },
      run);
  return written;
}

}  // namespace nnuc::data
