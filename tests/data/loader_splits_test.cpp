// Cross-validation splits (data/loader/splits.h): nnU-Net's 5-fold recipe against scikit-learn's
// KFold (Appendix A.6 and vectors for n = 23 and 260 printed by tests/data/loader_split_vectors.py),
// the seeded 80:20 split for folds beyond the file, fold "all", and splits_final.json: round trip,
// creation once, user files with other fold counts, and clear refusals of bad files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "data/dataset/atomic_file.h"
#include "data/loader/splits.h"
#include "tests/data/loader_fixture.h"

namespace nnuc::data {
namespace {

using loader_testing::TempFolder;

struct KFoldVector {
  int n;
  std::vector<std::vector<int>> val;
};
// KFold(5, shuffle=True, random_state=12345).split(arange(n)): each fold's validation indices.
const std::vector<KFoldVector> kSklearnFolds = {
    {10, {{0, 7}, {3, 9}, {4, 6}, {1, 8}, {2, 5}}},
    {23, {{3, 8, 10, 17, 19}, {0, 7, 12, 15, 16}, {6, 11, 14, 18, 20}, {9, 13, 21, 22}, {1, 2, 4, 5}}},
    {260,
     {{9,   10,  16,  18,  20,  30,  33,  40,  47,  50,  52,  54,  57,  67,  68,  71,  73,  95,
       101, 104, 110, 117, 120, 122, 127, 128, 130, 134, 135, 145, 156, 167, 169, 175, 177, 179,
       181, 182, 187, 196, 197, 203, 211, 214, 216, 222, 227, 228, 234, 235, 246, 259},
      {1,   14,  15,  17,  19,  26,  27,  39,  49,  55,  56,  66,  70,  85,  89,  92,  93,  99,
       100, 103, 106, 112, 126, 132, 139, 144, 147, 150, 151, 152, 153, 157, 160, 168, 173, 180,
       186, 190, 191, 198, 202, 207, 212, 213, 220, 221, 226, 229, 230, 232, 233, 237},
      {2,   4,   8,   13,  24,  25,  28,  35,  42,  44,  48,  51,  60,  61,  78,  79,  84,  86,
       90,  94,  96,  98,  102, 109, 111, 125, 136, 137, 140, 141, 148, 161, 162, 164, 165, 170,
       174, 176, 188, 193, 195, 200, 206, 209, 225, 240, 243, 244, 245, 249, 252, 255},
      {0,   3,   6,   12,  21,  22,  32,  37,  38,  41,  45,  46,  58,  62,  63,  65,  69,  74,
       76,  80,  82,  83,  88,  116, 121, 123, 146, 149, 154, 155, 158, 159, 163, 171, 172, 178,
       185, 192, 194, 199, 204, 205, 215, 217, 219, 224, 236, 238, 239, 248, 250, 254},
      {5,   7,   11,  23,  29,  31,  34,  36,  43,  53,  59,  64,  72,  75,  77,  81,  87,  91,
       97,  105, 107, 108, 113, 114, 115, 118, 119, 124, 129, 131, 133, 138, 142, 143, 166, 183,
       184, 189, 201, 208, 210, 218, 223, 231, 241, 242, 247, 251, 253, 256, 257, 258}}},
};

struct RandomSplitVector {
  int fold;
  int n;
  std::vector<int> train;
};
// RandomState(12345 + fold).choice(n, int(n * 0.8), replace=False).
const std::vector<RandomSplitVector> kRandomSplits = {
    {5, 10, {0, 8, 4, 5, 3, 9, 7, 6}},
    {7, 23, {7, 15, 2, 6, 0, 9, 18, 13, 4, 16, 22, 12, 17, 20, 19, 8, 11, 1}},
    {5, 3, {0, 1}},
    {12, 260, {82,  65,  24,  53,  146, 175, 66,  126, 173, 236, 34,  80,  149, 9,   197, 252, 39,  256, 7,   48,  242,
               217, 0,   17,  106, 64,  41,  157, 25,  63,  226, 213, 2,   86,  224, 244, 45,  225, 150, 35,  223, 145,
               144, 235, 107, 6,   211, 44,  22,  52,  179, 109, 73,  196, 118, 3,   189, 104, 187, 67,  108, 221, 85,
               32,  26,  40,  174, 240, 5,   172, 54,  247, 191, 210, 4,   62,  234, 246, 255, 251, 158, 31,  83,  230,
               57,  159, 124, 248, 212, 185, 183, 75,  194, 139, 78,  201, 166, 203, 69,  207, 186, 127, 115, 11,  92,
               167, 143, 151, 101, 114, 56,  49,  202, 71,  20,  130, 120, 96,  168, 42,  15,  190, 171, 60,  134, 79,
               156, 105, 220, 23,  249, 14,  193, 169, 81,  238, 47,  112, 222, 1,   188, 18,  204, 88,  259, 28,  21,
               178, 76,  135, 111, 154, 30,  254, 229, 206, 61,  131, 119, 184, 12,  232, 237, 218, 72,  165, 74,  110,
               148, 136, 142, 87,  68,  132, 198, 33,  59,  180, 258, 177, 257, 138, 155, 122, 95,  215, 121, 243, 250,
               43,  103, 200, 192, 129, 214, 36,  137, 125, 239, 117, 100, 233, 163, 89,  8,   140, 99,  37}},
};

std::vector<std::string> case_ids(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "case_%03d", i);
    ids.push_back(name);
  }
  return ids;
}

std::vector<std::string> names(const std::vector<std::string>& ids, const std::vector<int>& indices) {
  std::vector<std::string> out;
  for (const int i : indices) out.push_back(ids[static_cast<std::size_t>(i)]);
  return out;
}

TEST(LoaderSplits, FiveFoldsMatchScikitLearnKFold) {
  for (const KFoldVector& vector : kSklearnFolds) {
    std::vector<std::string> ids = case_ids(vector.n);
    std::vector<std::string> shuffled = ids;
    std::shuffle(shuffled.begin(), shuffled.end(), testing::rng());  // the recipe sorts first
    const std::vector<Split> splits = make_kfold_splits(shuffled);
    ASSERT_EQ(splits.size(), 5u);
    for (std::size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(splits[k].val, names(ids, vector.val[k])) << "n " << vector.n << " fold " << k;
      std::vector<std::string> train;
      for (const std::string& id : ids)
        if (std::find(splits[k].val.begin(), splits[k].val.end(), id) == splits[k].val.end()) train.push_back(id);
      EXPECT_EQ(splits[k].train, train) << "n " << vector.n << " fold " << k;
    }
  }
  // Appendix A.6 in its own words.
  const std::vector<Split> splits = make_kfold_splits(case_ids(10));
  EXPECT_EQ(splits[2].val, (std::vector<std::string>{"case_004", "case_006"}));
  EXPECT_EQ(splits[2].train.size(), 8u);
  EXPECT_ERROR_MENTIONS(make_kfold_splits(case_ids(4)), "cannot make 5 folds from 4 cases");
  EXPECT_ERROR_MENTIONS(make_kfold_splits({"a", "b", "c", "d", "e", "a"}), "'a' occurs twice");
}

TEST(LoaderSplits, FoldsBeyondTheFileDrawASeededEightyTwentySplit) {
  for (const RandomSplitVector& vector : kRandomSplits) {
    const std::vector<std::string> ids = case_ids(vector.n);
    std::vector<std::string> shuffled = ids;
    std::shuffle(shuffled.begin(), shuffled.end(), testing::rng());
    const Split split = fold_split({}, vector.fold, shuffled);
    EXPECT_EQ(split.train, names(ids, vector.train)) << "fold " << vector.fold;  // in drawn order
    std::vector<std::string> val;
    for (const std::string& id : ids)
      if (std::find(split.train.begin(), split.train.end(), id) == split.train.end()) val.push_back(id);
    EXPECT_EQ(split.val, val);
  }
  const std::vector<std::string> ids = case_ids(10);
  const std::vector<Split> splits = make_kfold_splits(ids);
  EXPECT_EQ(fold_split(splits, 3, ids), splits[3]);
  EXPECT_EQ(fold_split(splits, "4", ids), splits[4]);
  const Split all = fold_split(splits, "all", {"b", "c", "a"});
  EXPECT_EQ(all.train, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(all.val, all.train);
  EXPECT_ERROR_MENTIONS(fold_split(splits, "-1", ids), "'-1'");
  EXPECT_ERROR_MENTIONS(fold_split(splits, "first", ids), "'all' or a non-negative integer");
}

class LoaderSplitsFile : public ::testing::Test {
 protected:
  void write(const std::string& text) const {
    std::ofstream out(path());
    out << text;
  }
  std::string path() const { return folder_.file(kSplitsFileName); }
  TempFolder folder_{"nnuc_loader_splits"};
  std::vector<std::string> ids_ = case_ids(7);
};

TEST_F(LoaderSplitsFile, IsCreatedOnceAndReadBack) {
  const std::vector<Split> created = load_or_create_splits(path(), ids_);
  EXPECT_EQ(created, make_kfold_splits(ids_));
  EXPECT_EQ(read_splits(path(), ids_), created);
  // nnU-Net's layout: a list of {"train": [...], "val": [...]}.
  const nlohmann::json document = nlohmann::json::parse(read_file_text(path()));
  ASSERT_TRUE(document.is_array());
  EXPECT_EQ(document[1].at("val").get<std::vector<std::string>>(), created[1].val);
  // Once it exists it is used as it is, with any number of folds.
  write(R"([{"train": ["case_000", "case_001"], "val": ["case_002"]},
            {"train": ["case_002"], "val": []}, {"train": ["case_006"], "val": ["case_005"]}])");
  const std::vector<Split> user = load_or_create_splits(path(), ids_);
  ASSERT_EQ(user.size(), 3u);
  EXPECT_EQ(user[0].train, (std::vector<std::string>{"case_000", "case_001"}));
  EXPECT_EQ(user[2].val, (std::vector<std::string>{"case_005"}));
  EXPECT_EQ(fold_split(user, 3, ids_).train.size(), 5u);  // int(7 * 0.8)
  // The write is atomic: no temp file is left beside it.
  write_splits(path(), created);
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(path()).parent_path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
  EXPECT_EQ(read_splits(path(), ids_), created);
}

TEST_F(LoaderSplitsFile, BadFilesAreRefusedNamingFileFoldAndCase) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"([{"train": ["case_000"], "val": ["case_099"]}])", "fold 0: \"val\" lists 'case_099', which is not a case"},
      {R"([{"train": ["case_000"], "val": []}, {"train": ["case_001", "case_002"], "val": ["case_002"]}])",
       "fold 1: 'case_002' is in both \"train\" and \"val\""},
      {R"([{"train": ["case_000", "case_000"], "val": []}])", "fold 0: \"train\" lists 'case_000' twice"},
      {R"([{"train": ["case_000"]}])", "fold 0 has no \"val\" list"},
      {R"([{"train": [], "val": ["case_000"]}])", "fold 0 has no training cases"},
      {R"([{"train": [3], "val": []}])", "fold 0: \"train\" holds 3"},
      {R"({"train": ["case_000"], "val": []})", "expected a non-empty list of folds"},
      {R"([])", "expected a non-empty list of folds"},
      {R"([["case_000"]])", "fold 0 is"},
      {R"([{"train": ["case_000"], "val": [})", "not valid JSON"},
  };
  for (const auto& [text, what] : bad) {
    write(text);
    const std::string message = testing::error_of([&] { read_splits(path(), ids_); });
    EXPECT_NE(message.find(what), std::string::npos) << message;
    EXPECT_NE(message.find(path()), std::string::npos) << message;
  }
  EXPECT_THROW(read_splits(folder_.file("missing.json"), ids_), IoError);
}

}  // namespace
}  // namespace nnuc::data
