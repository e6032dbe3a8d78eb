// Cross-validation splits (nnunet_method.md §6.3): splits_final.json in the preprocessed dataset
// folder, a list of {"train": [ids], "val": [ids]}. Used when it exists (any number of folds, also
// user-written); otherwise created once with nnU-Net's recipe and written atomically.
//
// The recipe reproduces scikit-learn's KFold(n_splits=5, shuffle=True, random_state=12345) on the
// sorted identifiers bit for bit: the permutation is numpy's legacy RandomState(12345).permutation(n)
// (MT19937 + Fisher–Yates from the end with masked rejection, NumpyRandomState), the first n % 5 folds
// get n // 5 + 1 cases, the others n // 5; fold k validates on the k-th consecutive chunk of the
// permutation; train and val list indices in ascending order (Appendix A.6).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnuc::data {

constexpr int kCrossValidationFolds = 5;
constexpr std::uint32_t kSplitSeed = 12345;
constexpr const char* kSplitsFileName = "splits_final.json";

struct Split {
  std::vector<std::string> train;
  std::vector<std::string> val;
  bool operator==(const Split& other) const { return train == other.train && val == other.val; }
};

// KFold(folds, shuffle=True, random_state=seed) on the identifiers sorted lexicographically (byte
// order, which is numpy's code-point order for UTF-8).
// requires: 2 <= folds <= number of identifiers; identifiers distinct.
std::vector<Split> make_kfold_splits(std::vector<std::string> identifiers, int folds = kCrossValidationFolds,
                                     std::uint32_t seed = kSplitSeed);

// Reads a splits file and checks it against the dataset's identifiers: a non-empty JSON list of
// objects with "train" and "val" lists of strings, every id among `identifiers`, no id twice in a
// list, train and val disjoint, train not empty. Throws IoError (unreadable file) or InvalidInput
// naming the file, the fold and the id.
std::vector<Split> read_splits(const std::string& path, const std::vector<std::string>& identifiers);

// Writes the splits as nnU-Net does (json, indent 4), atomically. IoError naming the path on failure.
void write_splits(const std::string& path, const std::vector<Split>& splits);

// read_splits(path) when the file exists, else make_kfold_splits(identifiers) written to `path`.
std::vector<Split> load_or_create_splits(const std::string& path, const std::vector<std::string>& identifiers);

// The split a fold trains on (nnUNetTrainer.do_split):
//  - 0 <= fold < splits.size(): splits[fold];
//  - fold >= splits.size(): a seeded random 80:20 split of the sorted identifiers: train =
//    ids[RandomState(12345 + fold).choice(n, int(0.8 n), replace=False)] in drawn order, val = the
//    rest in ascending order.
// requires: fold >= 0.
Split fold_split(const std::vector<Split>& splits, int fold, const std::vector<std::string>& identifiers);
// Fold "all": train = val = all identifiers, sorted.
Split all_cases_split(const std::vector<std::string>& identifiers);
// fold = "all" or a non-negative integer ("0" .. "4", or beyond); InvalidInput for anything else.
Split fold_split(const std::vector<Split>& splits, const std::string& fold,
                 const std::vector<std::string>& identifiers);

}  // namespace nnuc::data
