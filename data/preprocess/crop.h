// Crop to the nonzero region (nnunet_method.md §2.1): used by the fingerprint, preprocessing and
// inference.
//
// Data model: images are f32 host tensors (C, a0, a1, a2); label maps are i16 (a0, a1, a2).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/core/tensor.h"

namespace nnuc::data {

using Shape3 = std::array<std::int64_t, 3>;

// Half-open [begin, end) per axis, as everywhere in nnU-Net.
struct BoundingBox {
  Shape3 begin{};
  Shape3 end{};
  Shape3 shape() const { return {end[0] - begin[0], end[1] - begin[1], end[2] - begin[2]}; }
  bool operator==(const BoundingBox& other) const { return begin == other.begin && end == other.end; }
};

// scipy.ndimage.binary_fill_holes with its default structure (face connectivity): background voxels
// (0) not connected to the array border through background are set to 1. Every voxel on a face of
// the array touches the border, including all voxels of an axis of length 1 or 2.
// requires: mask.size() == shape product; values 0 or 1.  ensures: returns the filled mask.
std::vector<std::uint8_t> fill_holes(const std::vector<std::uint8_t>& mask, const Shape3& shape);

// mask = fill_holes(OR_c image[c] != 0) (NaN counts as nonzero).
// requires: image f32 (C, a0, a1, a2) on the host, C >= 1.
std::vector<std::uint8_t> nonzero_mask(const Tensor& image);

// The tight bounding box of the voxels != 0; the whole array when there are none.
BoundingBox bounding_box(const std::vector<std::uint8_t>& mask, const Shape3& shape);

// The [begin, end) box of a (C, a0, a1, a2) or (a0, a1, a2) tensor (any dtype), as a new tensor.
Tensor crop_tensor(const Tensor& tensor, const BoundingBox& box);

struct CropResult {
  Tensor image;      // f32 (C, b0, b1, b2)
  Tensor seg;        // i16 (b0, b1, b2): the cropped label map with 0 outside the mask set to -1;
                     // without a label map: 0 inside the mask, -1 outside
  BoundingBox bbox;  // in the input's axes
};

// crop_to_nonzero: mask = nonzero_mask(image); bbox = bounding_box(mask); crop image and seg to bbox;
// in the cropped seg, voxels with value 0 outside the cropped mask become -1.
// requires: image f32 (C, a0, a1, a2); seg undefined or i16 (a0, a1, a2); both on the host.
CropResult crop_to_nonzero(const Tensor& image, const Tensor& seg);

}  // namespace nnuc::data
