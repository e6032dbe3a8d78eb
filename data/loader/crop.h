// Cropping a patch out of a memory-mapped preprocessed case, with padding outside the image
// (nnunet_method.md §7.1, acvl_utils crop_and_pad_nd): data padded with 0, the segmentation and the
// previous stage's segmentation (cascade, §6.10) with −1.
//
// Only the rows of the patch are read: each contiguous run along the last axis is one memcpy from the
// mapping, so a patch costs its own size in reads, never the whole case.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/preprocess/crop.h"
#include "data/preprocess/store.h"

namespace nnuc::data {

// Copies the box [corner, corner + size) of a channel-first array source (channels, b0, b1, b2) into
// destination (channels, size0, size1, size2); voxels of the box outside the array are `pad`.
// requires: channels >= 0, all sizes positive, destination holds channels · prod(size) values and does
// not overlap source. The corner may lie anywhere (negative, or past the end).
template <typename T>
void crop_padded(const T* source, std::int64_t channels, const Shape3& source_shape, const Shape3& corner,
                 const Shape3& size, T pad, T* destination);

// The previous stage's segmentation of one case (the cascade's extra seg channel, §6.10): i16
// (b0, b1, b2) in the preprocessed case's axes and shape, read like the seg (padding −1).
struct PreviousStageSegmentation {
  std::shared_ptr<const void> owner;  // keeps `values` alive (a mapped file, a tensor, ...)
  const std::int16_t* values = nullptr;
  Shape3 shape{};
};

// How the loader obtains a case's previous-stage segmentation: called once per case when the loader
// is constructed, with the case's index in the loader's list and its identifier. The result must stay
// valid (through `owner`) and is read concurrently by the workers. Throw (IoError naming the file) when
// a case has none. Two ready-made sources follow.
using PreviousStageSource =
    std::function<PreviousStageSegmentation(std::size_t case_index, const std::string& case_identifier)>;

// The `seg` array of one preprocessed store file per case (same order as the loader's case files),
// memory-mapped: the cascade writes the lower stage's prediction, resampled to this stage's
// preprocessed shape, as a store file (data/README.md) whose seg holds the prediction.
PreviousStageSource previous_stage_from_store_files(std::vector<std::string> paths,
                                                    StoreVerification verification = StoreVerification::lazy);

// Host tensors i16 (b0, b1, b2), one per case in the loader's order (tests, in-memory pipelines).
PreviousStageSource previous_stage_from_tensors(std::vector<Tensor> segmentations);

// Crops one batch element out of `file`: data (C, L0, L1, L2) padded with 0 into `data_destination`,
// seg (S, L0, L1, L2) padded with −1 into `seg_destination`, S = 1, or 2 with `previous` (channel 1).
// requires: `previous` null or of the case's shape (else InvalidInput naming the file);
// data_destination holds C · prod(size) floats, seg_destination S · prod(size) int16.
void crop_case_patch(const PreprocessedCaseFile& file, const PreviousStageSegmentation* previous, const Shape3& corner,
                     const Shape3& size, float* data_destination, std::int16_t* seg_destination);

}  // namespace nnuc::data
