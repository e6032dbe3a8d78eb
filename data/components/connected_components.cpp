// Two-pass union-find labelling in scipy.ndimage.label's numbering; sizes and keep-largest on top.
#include "data/components/connected_components.h"

#include <algorithm>
#include <array>
#include <limits>

#include "kernels/core/context.h"
#include "kernels/core/error.h"

namespace nnuc::data {

namespace {

// Equivalences between provisional labels. parent[k] <= k always, so a set's root is its smallest
// label: the one handed to the set's first voxel in raster order.
class Equivalences {
 public:
  Equivalences() { parent_.push_back(0); }  // label 0 = background

  std::int32_t create() {
    const auto label = static_cast<std::int32_t>(parent_.size());
    parent_.push_back(label);
    return label;
  }
  std::int32_t find(std::int32_t label) {
    while (parent_[static_cast<std::size_t>(label)] != label) {
      auto& up = parent_[static_cast<std::size_t>(label)];
      up = parent_[static_cast<std::size_t>(up)];  // path halving
      label = up;
    }
    return label;
  }
  // Joins the sets of a and b; returns the root of the joined set.
  std::int32_t unite(std::int32_t a, std::int32_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return a;
    if (a < b) std::swap(a, b);
    parent_[static_cast<std::size_t>(a)] = b;
    return b;
  }
  std::size_t size() const { return parent_.size(); }

  // Final numbers: roots 1, 2, ... in increasing provisional label (= first-voxel order).
  std::vector<std::int32_t> final_numbers(std::int32_t& count) {
    std::vector<std::int32_t> number(parent_.size(), 0);
    count = 0;
    for (std::size_t k = 1; k < parent_.size(); ++k) {
      const std::int32_t root = find(static_cast<std::int32_t>(k));
      number[k] = root == static_cast<std::int32_t>(k) ? ++count : number[static_cast<std::size_t>(root)];
    }
    return number;
  }

 private:
  std::vector<std::int32_t> parent_;
};

// Row (x, y) of a (X, Y, Z) label volume, or null outside it.
const std::int32_t* labelled_row(const std::int32_t* labels, const Shape3& shape, std::int64_t x, std::int64_t y) {
  if (x < 0 || y < 0 || y >= shape[1]) return nullptr;
  return labels + (x * shape[1] + y) * shape[2];
}

}  // namespace

std::int32_t label_components(const std::uint8_t* mask, const Shape3& shape, Connectivity connectivity,
                              std::int32_t* labels) {
  const std::int64_t X = shape[0], Y = shape[1], Z = shape[2];
  NNUC_CHECK(X >= 1 && Y >= 1 && Z >= 1, "label_components: every extent must be >= 1, got (", X, ", ", Y, ", ", Z,
             ")");
  NNUC_CHECK(X * Y * Z < std::numeric_limits<std::int32_t>::max(), "label_components: ", X * Y * Z,
             " voxels exceed the int32 label range");
  const bool full = connectivity == Connectivity::full;
  Equivalences equivalences;
  for (std::int64_t x = 0; x < X; ++x) {
    for (std::int64_t y = 0; y < Y; ++y) {
      const std::int64_t row_start = (x * Y + y) * Z;
      const std::uint8_t* in = mask + row_start;
      std::int32_t* out = labels + row_start;
      // The labelled rows whose voxels can touch this row from before: (x, y - 1) and, in the
      // previous plane, (x - 1, y - 1), (x - 1, y), (x - 1, y + 1).
      const std::int32_t* up = labelled_row(labels, shape, x, y - 1);
      const std::int32_t* back_up = labelled_row(labels, shape, x - 1, y - 1);
      const std::int32_t* back = labelled_row(labels, shape, x - 1, y);
      const std::int32_t* back_down = labelled_row(labels, shape, x - 1, y + 1);
      const auto at = [Z](const std::int32_t* row, std::int64_t z) -> std::int32_t {
        return row != nullptr && z >= 0 && z < Z ? row[z] : 0;
      };
      for (std::int64_t z = 0; z < Z; ++z) {
        if (in[z] == 0) {
          out[z] = 0;
          continue;
        }
        std::int32_t label = 0;
        // Joins `label` with a labelled neighbour `other` (0 = background or not there).
        const auto join = [&](std::int32_t other) {
          if (other == 0 || other == label) return;
          label = label == 0 ? other : equivalences.unite(label, other);
        };
        // A row's voxels z - 1, z, z + 1: the middle one touches the other two, which were joined
        // with it when the later of them was labelled.
        const auto join_row = [&](const std::int32_t* row) {
          const std::int32_t middle = at(row, z);
          if (middle != 0) {
            join(middle);
          } else {
            join(at(row, z - 1));
            join(at(row, z + 1));
          }
        };
        if (!full) {
          join(z > 0 ? out[z - 1] : 0);
          join(at(up, z));
          join(at(back, z));
        } else if (at(back, z) != 0) {
          // (x - 1, y, z) touches all 12 other earlier neighbours: they are already in its set
          // (every voxel was joined with its earlier neighbours when it was labelled).
          join(at(back, z));
        } else if (z > 0 && out[z - 1] != 0) {
          // The voxel before touches every earlier neighbour at z - 1 and z: only column z + 1 is new.
          join(out[z - 1]);
          join(at(up, z + 1));
          join(at(back_up, z + 1));
          join(at(back, z + 1));
          join(at(back_down, z + 1));
        } else if (at(up, z) != 0) {
          // (x, y - 1, z) touches all earlier neighbours but the row (x - 1, y + 1).
          join(at(up, z));
          join_row(back_down);
        } else {
          join(at(up, z - 1));
          join(at(up, z + 1));
          join_row(back_up);
          join(at(back, z - 1));
          join(at(back, z + 1));
          join_row(back_down);
        }
        out[z] = label != 0 ? label : equivalences.create();
        NNUC_CHECK(equivalences.size() < static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()),
                   "label_components: provisional labels exceed the int32 range");
      }
    }
  }
  std::int32_t count = 0;
  const std::vector<std::int32_t> number = equivalences.final_numbers(count);
  const std::int64_t voxels = X * Y * Z;
#pragma omp parallel for schedule(static) if (voxels >= (std::int64_t{1} << 20))
  for (std::int64_t i = 0; i < voxels; ++i) labels[i] = number[static_cast<std::size_t>(labels[i])];
  return count;
}

ComponentLabels label_components(const std::vector<std::uint8_t>& mask, const Shape3& shape,
                                 Connectivity connectivity) {
  const std::int64_t voxels = shape[0] * shape[1] * shape[2];
  NNUC_CHECK(static_cast<std::int64_t>(mask.size()) == voxels, "label_components: mask holds ", mask.size(),
             " voxels, shape (", shape[0], ", ", shape[1], ", ", shape[2], ") needs ", voxels);
  ComponentLabels out;
  out.labels.resize(mask.size());
  out.count = label_components(mask.data(), shape, connectivity, out.labels.data());
  return out;
}

std::vector<std::int64_t> component_sizes(const std::vector<std::int32_t>& labels, std::int32_t count) {
  NNUC_CHECK(count >= 0, "component_sizes: count must be >= 0, got ", count);
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(count) + 1, 0);
  for (std::int32_t label : labels) {
    NNUC_CHECK(label >= 0 && label <= count, "component_sizes: label ", label, " outside [0, ", count, "]");
    ++sizes[static_cast<std::size_t>(label)];
  }
  return sizes;
}

std::vector<std::int64_t> component_sizes(const ComponentLabels& components) {
  return component_sizes(components.labels, components.count);
}

std::vector<std::uint8_t> largest_components(const std::vector<std::uint8_t>& mask, const Shape3& shape,
                                             Connectivity connectivity) {
  const ComponentLabels components = label_components(mask, shape, connectivity);
  const std::vector<std::int64_t> sizes = component_sizes(components);
  const std::int64_t largest = sizes.size() > 1 ? *std::max_element(sizes.begin() + 1, sizes.end()) : 0;
  std::vector<std::uint8_t> keep(mask.size(), 0);
  for (std::size_t i = 0; i < keep.size(); ++i) {
    const std::int32_t label = components.labels[i];
    keep[i] = label != 0 && sizes[static_cast<std::size_t>(label)] == largest ? 1 : 0;
  }
  return keep;
}

Tensor remove_all_but_largest_component(const Tensor& segmentation,
                                        const std::vector<std::vector<int>>& labels_or_regions, int background) {
  NNUC_CHECK(segmentation.defined() && segmentation.device() == Device::CPU && segmentation.dtype() == DType::i16 &&
                 segmentation.rank() == 3,
             "remove_all_but_largest_component: segmentation must be an i16 (a0, a1, a2) host tensor, got ",
             segmentation.defined() ? segmentation.describe() : std::string("an undefined tensor"));
  NNUC_CHECK(
      background >= std::numeric_limits<std::int16_t>::min() && background <= std::numeric_limits<std::int16_t>::max(),
      "remove_all_but_largest_component: background ", background, " does not fit in i16");
  const Shape3 shape{segmentation.dim(0), segmentation.dim(1), segmentation.dim(2)};
  const std::int16_t* in = segmentation.data<std::int16_t>();
  const auto voxels = static_cast<std::size_t>(segmentation.numel());
  std::vector<std::uint8_t> mask(voxels, 0);
  for (std::size_t i = 0; i < voxels; ++i)
    for (const auto& entry : labels_or_regions)
      for (int label : entry) mask[i] = mask[i] | (in[i] == label ? 1 : 0);
  const std::vector<std::uint8_t> keep = largest_components(mask, shape, Connectivity::full);
  Tensor out = segmentation.copy_to(Context::cpu());
  std::int16_t* values = out.data<std::int16_t>();
  for (std::size_t i = 0; i < voxels; ++i)
    if (mask[i] != 0 && keep[i] == 0) values[i] = static_cast<std::int16_t>(background);
  return out;
}

}  // namespace nnuc::data
