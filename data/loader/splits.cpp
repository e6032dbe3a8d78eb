#include "data/loader/splits.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "data/dataset/atomic_file.h"
#include "data/preprocess/numpy_random.h"
#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

using nlohmann::json;

std::vector<std::string> sorted_identifiers(std::vector<std::string> identifiers) {
  std::sort(identifiers.begin(), identifiers.end());
  for (std::size_t i = 1; i < identifiers.size(); ++i)
    NNUC_CHECK(identifiers[i] != identifiers[i - 1], "splits: the case identifier '", identifiers[i], "' occurs twice");
  return identifiers;
}

// The list `name` of fold `fold`, checked: strings, known, none twice.
std::vector<std::string> read_id_list(const json& entry, const char* name, std::size_t fold, const std::string& path,
                                      const std::set<std::string>& known) {
  NNUC_CHECK(entry.contains(name) && entry.at(name).is_array(), "'", path, "': fold ", fold, " has no \"", name,
             "\" list of case identifiers");
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (const json& value : entry.at(name)) {
    NNUC_CHECK(value.is_string(), "'", path, "': fold ", fold, ": \"", name, "\" holds ", value.dump(),
               ", expected case identifiers (strings)");
    const std::string id = value.get<std::string>();
    NNUC_CHECK(known.count(id) != 0, "'", path, "': fold ", fold, ": \"", name, "\" lists '", id,
               "', which is not a case of this dataset (", known.size(), " cases",
               known.empty() ? std::string() : ", e.g. '" + *known.begin() + "'", ")");
    NNUC_CHECK(seen.insert(id).second, "'", path, "': fold ", fold, ": \"", name, "\" lists '", id, "' twice");
    ids.push_back(id);
  }
  return ids;
}

}  // namespace

std::vector<Split> make_kfold_splits(std::vector<std::string> identifiers, int folds, std::uint32_t seed) {
  const std::vector<std::string> ids = sorted_identifiers(std::move(identifiers));
  const auto n = static_cast<std::int64_t>(ids.size());
  NNUC_CHECK(folds >= 2, "splits: cross-validation needs at least 2 folds, got ", folds);
  NNUC_CHECK(n >= folds, "splits: cannot make ", folds, " folds from ", n, " cases; need at least ", folds,
             " cases (or provide ", kSplitsFileName, ")");
  // KFold: indices = arange(n) shuffled by RandomState(seed) (= permutation(n)).
  NumpyRandomState random(seed);
  const std::vector<std::int64_t> permutation = random.choice_without_replacement(n, n);
  std::vector<Split> splits;
  std::int64_t start = 0;
  for (int k = 0; k < folds; ++k) {
    const std::int64_t fold_size = n / folds + (k < n % folds ? 1 : 0);
    std::vector<bool> in_val(static_cast<std::size_t>(n), false);
    for (std::int64_t i = start; i < start + fold_size; ++i) in_val[static_cast<std::size_t>(permutation[i])] = true;
    start += fold_size;
    Split split;
    for (std::int64_t i = 0; i < n; ++i)
      (in_val[static_cast<std::size_t>(i)] ? split.val : split.train).push_back(ids[static_cast<std::size_t>(i)]);
    splits.push_back(std::move(split));
  }
  return splits;
}

std::vector<Split> read_splits(const std::string& path, const std::vector<std::string>& identifiers) {
  const std::string text = read_file_text(path);
  json document;
  try {
    document = json::parse(text);
  } catch (const json::exception& e) {
    NNUC_THROW(InvalidInput, "'", path, "' is not valid JSON: ", e.what());
  }
  NNUC_CHECK(document.is_array() && !document.empty(), "'", path,
             "': expected a non-empty list of folds {\"train\": [...], \"val\": [...]}");
  const std::set<std::string> known(identifiers.begin(), identifiers.end());
  std::vector<Split> splits;
  for (std::size_t fold = 0; fold < document.size(); ++fold) {
    const json& entry = document[fold];
    NNUC_CHECK(entry.is_object(), "'", path, "': fold ", fold, " is ", entry.dump(),
               ", expected {\"train\": [...], \"val\": [...]}");
    Split split;
    split.train = read_id_list(entry, "train", fold, path, known);
    split.val = read_id_list(entry, "val", fold, path, known);
    NNUC_CHECK(!split.train.empty(), "'", path, "': fold ", fold, " has no training cases");
    const std::set<std::string> train(split.train.begin(), split.train.end());
    for (const std::string& id : split.val)
      NNUC_CHECK(train.count(id) == 0, "'", path, "': fold ", fold, ": '", id, "' is in both \"train\" and \"val\"");
    splits.push_back(std::move(split));
  }
  return splits;
}

void write_splits(const std::string& path, const std::vector<Split>& splits) {
  json document = json::array();
  for (const Split& split : splits) document.push_back(json{{"train", split.train}, {"val", split.val}});
  write_file_atomic(path, document.dump(4));
}

std::vector<Split> load_or_create_splits(const std::string& path, const std::vector<std::string>& identifiers) {
  if (std::filesystem::exists(path)) return read_splits(path, identifiers);
  std::vector<Split> splits = make_kfold_splits(identifiers);
  write_splits(path, splits);
  return splits;
}

Split fold_split(const std::vector<Split>& splits, int fold, const std::vector<std::string>& identifiers) {
  NNUC_CHECK(fold >= 0, "fold must be 'all' or a non-negative integer, got ", fold);
  if (static_cast<std::size_t>(fold) < splits.size()) return splits[static_cast<std::size_t>(fold)];
  // nnU-Net: "splits contain only N folds; creating a random (but seeded) 80:20 split".
  const std::vector<std::string> ids = sorted_identifiers(identifiers);
  const auto n = static_cast<std::int64_t>(ids.size());
  NNUC_CHECK(n >= 1, "fold ", fold, ": there are no cases to split");
  NumpyRandomState random(kSplitSeed + static_cast<std::uint32_t>(fold));
  const auto train_count = static_cast<std::int64_t>(static_cast<double>(n) * 0.8);
  const std::vector<std::int64_t> chosen = random.choice_without_replacement(n, train_count);
  std::vector<bool> in_train(static_cast<std::size_t>(n), false);
  Split split;
  for (const std::int64_t index : chosen) {
    in_train[static_cast<std::size_t>(index)] = true;
    split.train.push_back(ids[static_cast<std::size_t>(index)]);
  }
  for (std::int64_t i = 0; i < n; ++i)
    if (!in_train[static_cast<std::size_t>(i)]) split.val.push_back(ids[static_cast<std::size_t>(i)]);
  return split;
}

Split all_cases_split(const std::vector<std::string>& identifiers) {
  Split split;
  split.train = sorted_identifiers(identifiers);
  split.val = split.train;
  return split;
}

Split fold_split(const std::vector<Split>& splits, const std::string& fold,
                 const std::vector<std::string>& identifiers) {
  if (fold == "all") return all_cases_split(identifiers);
  const bool digits = !fold.empty() && fold.size() <= 9 &&
                      std::all_of(fold.begin(), fold.end(), [](char c) { return c >= '0' && c <= '9'; });
  NNUC_CHECK(digits, "fold must be 'all' or a non-negative integer, got '", fold, "'");
  return fold_split(splits, std::stoi(fold), identifiers);
}

}  // namespace nnuc::data
