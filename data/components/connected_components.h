// Connected components of binary 3-D volumes: the labelling behind "keep largest component"
// (postprocessing, spec §9.1) and the cascade's component removal (spec §7.3 step 14).
//
// Numbering. Components are numbered 1..count in the order of their first voxel in C (row-major)
// order. That is exactly how scipy.ndimage.label numbers them (its two-pass labelling hands out
// provisional labels in raster order and resolves each equivalence to the smaller label), so
//   label_components(mask, shape, Connectivity::full) == scipy.ndimage.label(mask, np.ones((3, 3, 3)))
//   label_components(mask, shape, Connectivity::face) == scipy.ndimage.label(mask)
// bit for bit (tests/data/connected_components_test.cpp checks both against scipy). A 2-D image
// stored as (1, H, W) gets 8- (full) or 4-connectivity (face) in its plane.
//
// Algorithm: two passes with union-find over provisional labels. Pass 1 visits voxels in raster
// order and joins each foreground voxel with its already-visited neighbours: 3 for face
// connectivity; for full connectivity up to 13, fewer when one foreground neighbour touches the
// others (they were joined with it when it was labelled; (x - 1, y, z) touches all 12 others).
// Equivalences are merged towards the smaller label, so each set's root is the label of its first
// voxel. Pass 2 replaces provisional labels by final numbers. Memory: the int32 output plus 4 bytes
// per provisional label. A 512 x 512 x 300 volume takes about a second.
#pragma once

#include <cstdint>
#include <vector>

#include "data/preprocess/crop.h"  // Shape3
#include "kernels/core/tensor.h"

namespace nnuc::data {

// Which neighbours touch: face = the 6 voxels sharing a face (scipy's default cross structure);
// full = all 26 voxels of the 3 x 3 x 3 cube (nnU-Net's choice everywhere, acvl_utils / skimage
// connectivity = ndim).
enum class Connectivity { face, full };

struct ComponentLabels {
  std::vector<std::int32_t> labels;  // (a0, a1, a2) row-major: 0 = background, components 1..count
  std::int32_t count = 0;
};

// Labels the components of `mask` (any nonzero byte is foreground) into `labels`.
// requires: mask and labels hold shape[0] * shape[1] * shape[2] elements (they may not overlap);
//           every extent >= 1 and the voxel count < 2^31 - 1.
// ensures:  labels as documented above; returns the number of components.
std::int32_t label_components(const std::uint8_t* mask, const Shape3& shape, Connectivity connectivity,
                              std::int32_t* labels);

// The same, allocating the label volume. requires: mask.size() == the voxel count of shape.
ComponentLabels label_components(const std::vector<std::uint8_t>& mask, const Shape3& shape,
                                 Connectivity connectivity = Connectivity::full);

// Voxel count per label, indexed by label: sizes[0] counts the background, sizes[k] component k
// (like np.bincount(labels, minlength=count + 1)). requires: every label in [0, count].
std::vector<std::int64_t> component_sizes(const std::vector<std::int32_t>& labels, std::int32_t count);
std::vector<std::int64_t> component_sizes(const ComponentLabels& components);

// acvl_utils' remove_all_but_largest_component: the voxels of `mask` that lie in a component whose
// size equals the largest component size (ties keep every such component); all zero for an empty
// mask. Returns 0/1 bytes.
std::vector<std::uint8_t> largest_components(const std::vector<std::uint8_t>& mask, const Shape3& shape,
                                             Connectivity connectivity = Connectivity::full);

// nnU-Net's remove_all_but_largest_component_from_segmentation (spec §9.1): mask = voxels whose
// label belongs to any entry of `labels_or_regions` (an entry is one label, or a region's labels);
// the voxels of mask outside its largest component(s) (full connectivity) become `background`.
// requires: segmentation i16 (a0, a1, a2) on the host.
// ensures:  returns a new i16 tensor; voxels outside mask keep their label.
Tensor remove_all_but_largest_component(const Tensor& segmentation,
                                        const std::vector<std::vector<int>>& labels_or_regions, int background = 0);

}  // namespace nnuc::data
