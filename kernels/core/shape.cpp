#include "kernels/core/shape.h"

#include <sstream>

#include "kernels/core/error.h"

namespace nnuc {

Shape::Shape(std::initializer_list<std::int64_t> dims) {
  NNUC_CHECK(dims.size() <= kMaxRank, "a shape has at most ", kMaxRank, " dimensions, got ", dims.size());
  for (std::int64_t dim : dims) {
    NNUC_CHECK(dim >= 0, "shape dimensions must be >= 0, got ", dim);
    dims_[static_cast<std::size_t>(rank_++)] = dim;
  }
}

std::int64_t Shape::numel() const {
  std::int64_t count = 1;
  for (int axis = 0; axis < rank_; ++axis) {
    NNUC_CHECK(dims_[axis] == 0 || count <= INT64_MAX / dims_[axis], "shape ", str(), " overflows 64 bits");
    count *= dims_[static_cast<std::size_t>(axis)];
  }
  return count;
}

std::string Shape::str() const {
  std::ostringstream out;
  out << '(';
  for (int axis = 0; axis < rank_; ++axis) out << (axis ? ", " : "") << dims_[static_cast<std::size_t>(axis)];
  out << ')';
  return out.str();
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (int axis = 0; axis < rank_; ++axis)
    if (dims_[static_cast<std::size_t>(axis)] != other.dims_[static_cast<std::size_t>(axis)]) return false;
  return true;
}

}  // namespace nnuc
