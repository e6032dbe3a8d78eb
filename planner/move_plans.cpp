#include "planner/move_plans.h"

#include <filesystem>

#include "data/dataset/atomic_file.h"
#include "data/dataset/dataset_json.h"
#include "data/evaluation/python_json.h"
#include "kernels/core/error.h"
#include "planner/planner.h"
#include "planner/plans_read.h"

namespace nnuc::planner {

namespace fs = std::filesystem;

MovedPlans move_plans_between_datasets(const MovePlansOptions& options, const data::NnunetRoots& roots) {
  NNUC_CHECK(!roots.preprocessed.empty() && !roots.raw.empty(),
             "moving plans needs $nnUNet_preprocessed (the source plans) and $nnUNet_raw (the target's dataset.json)");
  const std::string source_name = data::dataset_name_from_id_or_name(options.source_dataset, roots);
  const std::string target_name = data::dataset_name_from_id_or_name(options.target_dataset, roots);
  const std::string target_plans = options.target_plans.empty() ? options.source_plans : options.target_plans;
  const fs::path source_file = fs::path(roots.preprocessed) / source_name / (options.source_plans + ".json");
  NNUC_CHECK(fs::is_regular_file(source_file), source_file.string(), ": no such plans file (plan ", source_name,
             " first, or name its plans with -sp)");
  nlohmann::ordered_json document = data::read_python_json_file(source_file.string());
  const PlansFile parsed = read_plans(document, source_file.string());  // validates every configuration

  const fs::path target_dataset_json = fs::path(roots.raw) / target_name / "dataset.json";
  const data::DatasetJson dataset = data::load_dataset_json(target_dataset_json.string());
  for (const ResolvedConfiguration& configuration : parsed.configurations) {
    const std::size_t schemes = configuration.plan.normalization_schemes.size();
    NNUC_CHECK(schemes == static_cast<std::size_t>(dataset.num_channels()), source_file.string(), ": configuration ",
               configuration.name, " normalizes ", schemes, " channels but ", target_dataset_json.string(), " has ",
               dataset.num_channels(), "; plans move only between datasets with the same channels");
  }
  const fs::path target_file = fs::path(roots.preprocessed) / target_name / (target_plans + ".json");
  NNUC_CHECK(options.overwrite || !fs::exists(target_file), target_file.string(),
             ": exists already; choose another plans name (-tp) or replace it with --overwrite");

  MovedPlans moved;
  moved.file = target_file.string();
  document["dataset_name"] = target_name;
  for (auto& [name, configuration] : document.at("configurations").items()) {
    if (!configuration.contains("data_identifier")) continue;
    std::string identifier = configuration.at("data_identifier").get<std::string>();
    if (target_plans != options.source_plans) {
      identifier = identifier.rfind(options.source_plans, 0) == 0
                       ? target_plans + identifier.substr(options.source_plans.size())
                       : target_plans + "_" + identifier;
      configuration["data_identifier"] = identifier;
    }
    moved.data_identifiers.push_back(identifier);
  }
  document["image_reader_writer"] = image_reader_writer_for(dataset);
  document["plans_name"] = target_plans;
  read_plans(document, target_file.string());  // what is written reads back
  fs::create_directories(target_file.parent_path());
  data::write_file_atomic(target_file.string(), document.dump(4) + "\n");
  return moved;
}

}  // namespace nnuc::planner
