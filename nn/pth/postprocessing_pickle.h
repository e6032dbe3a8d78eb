// nnU-Net's postprocessing.pkl (written by nnUNetv2_determine_postprocessing and find_best_configuration
// beside postprocessing.json; nnUNetv2_apply_postprocessing -pp_pkl_file reads it): a pickled tuple
//   ([function, ...], [{"labels_or_regions": LABEL or [LABELS] or (LABELS)}, ...])
// whose functions are named by STACK_GLOBAL (module and name; nothing is run, nn/pth/pickle.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace nnuc::nn {

constexpr std::size_t kMaxPostprocessingPickleBytes = std::size_t{1} << 20;

// The same content as nnU-Net's postprocessing.json: {"postprocessing_fns": [NAME, ...],
// "postprocessing_kwargs": [{"labels_or_regions": 1 | [1, 2]}, ...]} (tuples become lists), for
// data::postprocessing_steps_from_json. A function must be one of nnunetv2.postprocessing's, named by
// its Python name; what it is allowed to be is checked there. Throws IoError naming `path` for a file
// that cannot be read, is larger than kMaxPostprocessingPickleBytes or is not a pickle, and InvalidInput
// naming the path and the entry for a pickle of another shape (the entry's kind and what was expected).
nlohmann::ordered_json read_postprocessing_pickle(const std::string& path);

// Whether the file starts like a pickle of protocol 2 or later (0x80, then the protocol number):
// how `nnuc postprocess -pp` tells postprocessing.pkl from postprocessing.json whatever the file's name.
bool looks_like_pickle(const std::string& path);

}  // namespace nnuc::nn
