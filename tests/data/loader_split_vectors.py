#!/usr/bin/env python3
"""Prints the reference splits that tests/data/loader_splits_test.cpp embeds (kSklearnFolds, kRandomSplits).

Run with numpy and scikit-learn (vectors below were made with numpy 2.4.6, scikit-learn 1.9.1):
    python3 tests/data/loader_split_vectors.py
nnU-Net's recipe (nnunet_method.md §6.3): identifiers sorted, KFold(n_splits=5, shuffle=True,
random_state=12345), validation indices of each fold in ascending order; a fold beyond the stored
splits draws RandomState(12345 + fold).choice(n, int(n * 0.8), replace=False) as the training indices
(in drawn order) and validation = the rest, ascending.
"""
import numpy as np
from sklearn.model_selection import KFold


def cpp_list(values):
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def main():
    print("// KFold(5, shuffle=True, random_state=12345): n, then each fold's validation indices")
    for n in (10, 23, 260):
        folds = [cpp_list(val) for _, val in KFold(n_splits=5, shuffle=True, random_state=12345).split(np.arange(n))]
        print("{" + str(n) + ", {" + ", ".join(folds) + "}},")
    print("// RandomState(12345 + fold).choice(n, int(n * 0.8), replace=False): fold, n, training indices")
    for fold, n in ((5, 10), (7, 23), (5, 3), (12, 260)):
        chosen = np.random.RandomState(12345 + fold).choice(n, int(n * 0.8), replace=False)
        print("{" + str(fold) + ", " + str(n) + ", " + cpp_list(chosen) + "},")


if __name__ == "__main__":
    main()
