// Shared helpers of the planner tests: where the nnU-Net fixtures live and how to load them.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "planner/fingerprint.h"
#include "planner/planner.h"

namespace nnuc::planner::fixtures {

// tests/planner/fixtures (next to this header).
inline std::filesystem::path fixtures_dir() {
  return std::filesystem::path(__FILE__).parent_path() / "fixtures";
}

struct FixtureDataset {
  DatasetDescription dataset;
  Fingerprint fingerprint;
};

inline FixtureDataset load_fixture_dataset(const std::string& name) {
  const std::filesystem::path dir = fixtures_dir() / name;
  return {load_dataset_json(dir / "dataset.json"), load_fingerprint(dir / "dataset_fingerprint.json")};
}

}  // namespace nnuc::planner::fixtures
