#include "data/loader/crop.h"

#include <algorithm>
#include <cstring>

#include "kernels/core/error.h"

namespace nnuc::data {

template <typename T>
void crop_padded(const T* source, std::int64_t channels, const Shape3& source_shape, const Shape3& corner,
                 const Shape3& size, T pad, T* destination) {
  NNUC_CHECK(channels >= 0, "crop_padded: channel count must not be negative, got ", channels);
  for (int d = 0; d < 3; ++d)
    NNUC_CHECK(source_shape[d] >= 1 && size[d] >= 1, "crop_padded: sizes must be positive (axis ", d, ": array ",
               source_shape[d], ", patch ", size[d], ")");
  const std::int64_t rows_in_plane = size[1], row = size[2];
  // The part of each row (last axis) that lies inside the array, in patch coordinates: [begin, end).
  const std::int64_t begin = std::clamp<std::int64_t>(-corner[2], 0, row);
  const std::int64_t end = std::clamp<std::int64_t>(source_shape[2] - corner[2], begin, row);
  const auto inside = [&](int axis, std::int64_t index) { return index >= 0 && index < source_shape[axis]; };
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t o0 = 0; o0 < size[0]; ++o0) {
      T* plane = destination + (c * size[0] + o0) * rows_in_plane * row;
      const std::int64_t i0 = corner[0] + o0;
      if (!inside(0, i0)) {
        std::fill(plane, plane + rows_in_plane * row, pad);
        continue;
      }
      for (std::int64_t o1 = 0; o1 < rows_in_plane; ++o1) {
        T* out = plane + o1 * row;
        const std::int64_t i1 = corner[1] + o1;
        if (!inside(1, i1) || begin == end) {
          std::fill(out, out + row, pad);
          continue;
        }
        const T* in = source + ((c * source_shape[0] + i0) * source_shape[1] + i1) * source_shape[2] + corner[2];
        std::fill(out, out + begin, pad);
        std::memcpy(out + begin, in + begin, static_cast<std::size_t>(end - begin) * sizeof(T));
        std::fill(out + end, out + row, pad);
      }
    }
  }
}

template void crop_padded<float>(const float*, std::int64_t, const Shape3&, const Shape3&, const Shape3&, float,
                                 float*);
template void crop_padded<std::int16_t>(const std::int16_t*, std::int64_t, const Shape3&, const Shape3&, const Shape3&,
                                        std::int16_t, std::int16_t*);

PreviousStageSource previous_stage_from_store_files(std::vector<std::string> paths, StoreVerification verification) {
  auto shared_paths = std::make_shared<const std::vector<std::string>>(std::move(paths));
  return [shared_paths, verification](std::size_t case_index, const std::string& case_identifier) {
    NNUC_CHECK(case_index < shared_paths->size(), "previous stage: no file for case '", case_identifier, "' (index ",
               case_index, "; ", shared_paths->size(), " files given)");
    auto file =
        std::make_shared<PreprocessedCaseFile>(PreprocessedCaseFile::open((*shared_paths)[case_index], verification));
    const StoredArray seg = file->seg();
    NNUC_CHECK(seg.shape.rank() == 3, "previous stage '", file->path(), "': seg must be 3-D, got ", seg.shape.str());
    PreviousStageSegmentation out;
    out.values = seg.as<std::int16_t>();
    out.shape = {seg.shape[0], seg.shape[1], seg.shape[2]};
    out.owner = std::move(file);
    return out;
  };
}

PreviousStageSource previous_stage_from_tensors(std::vector<Tensor> segmentations) {
  auto shared = std::make_shared<const std::vector<Tensor>>(std::move(segmentations));
  return [shared](std::size_t case_index, const std::string& case_identifier) {
    NNUC_CHECK(case_index < shared->size(), "previous stage: no segmentation for case '", case_identifier, "' (index ",
               case_index, "; ", shared->size(), " given)");
    const Tensor& seg = (*shared)[case_index];
    NNUC_CHECK(seg.defined() && seg.device() == Device::CPU && seg.dtype() == DType::i16 && seg.rank() == 3,
               "previous stage of case '", case_identifier, "': expected a host i16 (b0, b1, b2) tensor, got ",
               seg.defined() ? seg.describe() : std::string("none"));
    PreviousStageSegmentation out;
    out.values = seg.data<std::int16_t>();
    out.shape = {seg.dim(0), seg.dim(1), seg.dim(2)};
    out.owner = shared;
    return out;
  };
}

void crop_case_patch(const PreprocessedCaseFile& file, const PreviousStageSegmentation* previous, const Shape3& corner,
                     const Shape3& size, float* data_destination, std::int16_t* seg_destination) {
  const StoredArray data = file.data();  // lazy verification checks the checksum on first access
  const StoredArray seg = file.seg();
  NNUC_CHECK(data.shape.rank() == 4 && seg.shape.rank() == 3, "'", file.path(),
             "': expected data (C, b0, b1, b2) and seg (b0, b1, b2), got ", data.shape.str(), " and ", seg.shape.str());
  const Shape3 shape = {seg.shape[0], seg.shape[1], seg.shape[2]};
  NNUC_CHECK(data.shape[1] == shape[0] && data.shape[2] == shape[1] && data.shape[3] == shape[2], "'", file.path(),
             "': data ", data.shape.str(), " and seg ", seg.shape.str(), " disagree in shape");
  const std::int64_t patch_voxels = size[0] * size[1] * size[2];
  crop_padded(data.as<float>(), data.shape[0], shape, corner, size, 0.0f, data_destination);
  crop_padded(seg.as<std::int16_t>(), 1, shape, corner, size, std::int16_t{-1}, seg_destination);
  if (previous != nullptr) {
    NNUC_CHECK(previous->values != nullptr && previous->shape == shape, "'", file.path(),
               "': the previous stage's segmentation has shape (", previous->shape[0], ", ", previous->shape[1], ", ",
               previous->shape[2], "), the case (", shape[0], ", ", shape[1], ", ", shape[2], ")");
    crop_padded(previous->values, 1, shape, corner, size, std::int16_t{-1}, seg_destination + patch_voxels);
  }
}

}  // namespace nnuc::data
