#include "data/preprocess/crop.h"

#include <algorithm>
#include <cstring>

#include "kernels/core/error.h"

namespace nnuc::data {
namespace {

std::int64_t volume(const Shape3& shape) { return shape[0] * shape[1] * shape[2]; }

void check_image(const Tensor& image, const char* name) {
  check_dtype(image, DType::f32, name);
  NNUC_CHECK(image.device() == Device::CPU, name, " must be a host tensor, got ", image.describe());
  NNUC_CHECK(image.rank() == 4 && image.dim(0) >= 1, name, " must be (C, a0, a1, a2) with C >= 1, got ",
             image.describe());
}

}  // namespace

std::vector<std::uint8_t> fill_holes(const std::vector<std::uint8_t>& mask, const Shape3& shape) {
  NNUC_CHECK(shape[0] >= 0 && shape[1] >= 0 && shape[2] >= 0, "fill_holes: negative shape");
  const std::int64_t count = volume(shape);
  NNUC_CHECK(static_cast<std::int64_t>(mask.size()) == count, "fill_holes: mask has ", mask.size(),
             " voxels, shape needs ", count);
  const std::int64_t n0 = shape[0], n1 = shape[1], n2 = shape[2];
  const std::int64_t stride0 = n1 * n2, stride1 = n2;
  // reached[i] = background voxel connected to the border through background (face neighbours).
  std::vector<std::uint8_t> reached(static_cast<std::size_t>(count), 0);
  std::vector<std::int64_t> stack;
  auto visit = [&](std::int64_t index) {
    if (mask[static_cast<std::size_t>(index)] == 0 && reached[static_cast<std::size_t>(index)] == 0) {
      reached[static_cast<std::size_t>(index)] = 1;
      stack.push_back(index);
    }
  };
  for (std::int64_t i0 = 0; i0 < n0; ++i0) {
    for (std::int64_t i1 = 0; i1 < n1; ++i1) {
      const bool face01 = i0 == 0 || i0 == n0 - 1 || i1 == 0 || i1 == n1 - 1;
      const std::int64_t row = i0 * stride0 + i1 * stride1;
      if (face01) {
        for (std::int64_t i2 = 0; i2 < n2; ++i2) visit(row + i2);
      } else if (n2 > 0) {
        visit(row);
        visit(row + n2 - 1);
      }
    }
  }
  while (!stack.empty()) {
    const std::int64_t index = stack.back();
    stack.pop_back();
    const std::int64_t i0 = index / stride0;
    const std::int64_t i1 = (index / stride1) % n1;
    const std::int64_t i2 = index % n2;
    if (i0 > 0) visit(index - stride0);
    if (i0 + 1 < n0) visit(index + stride0);
    if (i1 > 0) visit(index - stride1);
    if (i1 + 1 < n1) visit(index + stride1);
    if (i2 > 0) visit(index - 1);
    if (i2 + 1 < n2) visit(index + 1);
  }
  std::vector<std::uint8_t> filled(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < filled.size(); ++i) filled[i] = reached[i] ? 0 : 1;
  return filled;
}

std::vector<std::uint8_t> nonzero_mask(const Tensor& image) {
  check_image(image, "image");
  const Shape3 shape{image.dim(1), image.dim(2), image.dim(3)};
  const std::int64_t count = volume(shape);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(count), 0);
  const float* values = image.data<float>();
  for (std::int64_t c = 0; c < image.dim(0); ++c) {
    const float* channel = values + c * count;
    for (std::int64_t i = 0; i < count; ++i)
      if (channel[i] != 0.0f) mask[static_cast<std::size_t>(i)] = 1;  // NaN != 0 is true, as in numpy
  }
  return fill_holes(mask, shape);
}

BoundingBox bounding_box(const std::vector<std::uint8_t>& mask, const Shape3& shape) {
  NNUC_CHECK(static_cast<std::int64_t>(mask.size()) == volume(shape), "bounding_box: mask has ", mask.size(),
             " voxels, shape needs ", volume(shape));
  BoundingBox box;
  box.begin = {shape[0], shape[1], shape[2]};
  box.end = {0, 0, 0};
  bool any = false;
  std::size_t index = 0;
  for (std::int64_t i0 = 0; i0 < shape[0]; ++i0)
    for (std::int64_t i1 = 0; i1 < shape[1]; ++i1)
      for (std::int64_t i2 = 0; i2 < shape[2]; ++i2, ++index) {
        if (mask[index] == 0) continue;
        any = true;
        const Shape3 at{i0, i1, i2};
        for (int axis = 0; axis < 3; ++axis) {
          box.begin[axis] = std::min(box.begin[axis], at[axis]);
          box.end[axis] = std::max(box.end[axis], at[axis] + 1);
        }
      }
  if (!any) {
    box.begin = {0, 0, 0};
    box.end = shape;
  }
  return box;
}

Tensor crop_tensor(const Tensor& tensor, const BoundingBox& box) {
  check_defined(tensor, "tensor");
  NNUC_CHECK(tensor.device() == Device::CPU, "crop_tensor: host tensor required, got ", tensor.describe());
  NNUC_CHECK(tensor.rank() == 3 || tensor.rank() == 4, "crop_tensor: (C, a0, a1, a2) or (a0, a1, a2) required, got ",
             tensor.describe());
  const int first = tensor.rank() - 3;
  const std::int64_t channels = first == 1 ? tensor.dim(0) : 1;
  const Shape3 in{tensor.dim(first), tensor.dim(first + 1), tensor.dim(first + 2)};
  for (int axis = 0; axis < 3; ++axis) {
    NNUC_CHECK(box.begin[axis] >= 0 && box.begin[axis] <= box.end[axis] && box.end[axis] <= in[axis],
               "crop_tensor: box [", box.begin[axis], ", ", box.end[axis], ") on axis ", axis, " does not fit size ",
               in[axis]);
  }
  const Shape3 out = box.shape();
  const Shape out_shape = first == 1 ? Shape{channels, out[0], out[1], out[2]} : Shape{out[0], out[1], out[2]};
  Tensor result = Tensor::empty_cpu(out_shape, tensor.dtype());
  const std::size_t item = dtype_size(tensor.dtype());
  const auto* source = static_cast<const char*>(tensor.raw());
  auto* target = static_cast<char*>(result.raw());
  const std::size_t row_bytes = static_cast<std::size_t>(out[2]) * item;
  std::size_t written = 0;
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t i0 = box.begin[0]; i0 < box.end[0]; ++i0)
      for (std::int64_t i1 = box.begin[1]; i1 < box.end[1]; ++i1) {
        const std::int64_t offset = ((c * in[0] + i0) * in[1] + i1) * in[2] + box.begin[2];
        if (row_bytes > 0) std::memcpy(target + written, source + static_cast<std::size_t>(offset) * item, row_bytes);
        written += row_bytes;
      }
  return result;
}

CropResult crop_to_nonzero(const Tensor& image, const Tensor& seg) {
  check_image(image, "image");
  const Shape3 shape{image.dim(1), image.dim(2), image.dim(3)};
  if (seg.defined()) {
    check_dtype(seg, DType::i16, "seg");
    NNUC_CHECK(seg.device() == Device::CPU, "seg must be a host tensor, got ", seg.describe());
    check_shape(seg, Shape{shape[0], shape[1], shape[2]}, "seg");
  }
  const std::vector<std::uint8_t> mask = nonzero_mask(image);
  CropResult result;
  result.bbox = bounding_box(mask, shape);
  result.image = crop_tensor(image, result.bbox);
  const Shape3 out = result.bbox.shape();
  if (seg.defined()) {
    result.seg = crop_tensor(seg, result.bbox);
  } else {
    result.seg = Tensor::empty_cpu(Shape{out[0], out[1], out[2]}, DType::i16);
    std::fill_n(result.seg.data<std::int16_t>(), result.seg.numel(), std::int16_t{0});
  }
  std::int16_t* labels = result.seg.data<std::int16_t>();
  std::size_t index = 0;
  for (std::int64_t i0 = result.bbox.begin[0]; i0 < result.bbox.end[0]; ++i0)
    for (std::int64_t i1 = result.bbox.begin[1]; i1 < result.bbox.end[1]; ++i1)
      for (std::int64_t i2 = result.bbox.begin[2]; i2 < result.bbox.end[2]; ++i2, ++index) {
        const bool inside = mask[static_cast<std::size_t>((i0 * shape[1] + i1) * shape[2] + i2)] != 0;
        if (!inside && labels[index] == 0) labels[index] = -1;
      }
  return result;
}

}  // namespace nnuc::data
