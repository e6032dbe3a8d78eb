// Shared helpers of the planner tests: where the nnU-Net fixtures live and how to load them.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "data/dataset/dataset_json.h"
#include "data/preprocess/fingerprint.h"
#include "planner/planner.h"

namespace nnuc::planner::fixtures {

// tests/planner/fixtures (next to this header).
inline std::filesystem::path fixtures_dir() { return std::filesystem::path(__FILE__).parent_path() / "fixtures"; }

struct FixtureDataset {
  data::DatasetJson dataset;
  data::DatasetFingerprint fingerprint;
};

// The fixture's dataset.json (any file ending: natural_2d_rgb is ".png") and fingerprint, read with
// data's readers, as `nnuc plan --from-fingerprint` reads them.
inline FixtureDataset load_fixture_dataset(const std::string& name) {
  const std::filesystem::path dir = fixtures_dir() / name;
  return {data::load_dataset_json((dir / "dataset.json").string(), data::FileEndings::any),
          data::read_fingerprint((dir / "dataset_fingerprint.json").string())};
}

}  // namespace nnuc::planner::fixtures
