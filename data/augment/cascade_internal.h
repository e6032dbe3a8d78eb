// Internals shared by cascade.cpp, cascade_cpu.cpp and the CUDA files: the workspace layout, the
// morphology constants, and the CUDA steps the .cu files hand each other.
#pragma once

#include <cstddef>
#include <cstdint>

#include "data/augment/cascade.h"

namespace nnuc::augment::detail {

// Squared distances are stored in bytes, saturated here: radii are at most 10 (checked at the door),
// so every threshold r^2 <= 100 < kFarDistance and saturation never hides a distance that passes.
constexpr std::uint8_t kFarDistance = 255;

// The ball's threshold and window: |d|^2 <= r^2 <=> |d|^2 <= floor(r^2) for integer d; every offset
// of the ball has |d_a| <= isqrt(floor(r^2)).
struct Ball {
  int squared = 0;  // floor(r^2)
  int reach = 0;    // floor(sqrt(squared))
};
Ball ball_of(float radius);

// Voxels per tile of the CUDA component selection (one count per tile, one block per tile).
constexpr int kComponentTile = 1024;

// Byte offsets of the scratch buffers in cascade_inputs' workspace (each 256-byte aligned).
struct WorkspaceLayout {
  std::size_t distance_a = 0, distance_b = 0, mask = 0;  // u8 (X, Y, Z) each
  std::size_t labels = 0;                                // i32 (X, Y, Z): CPU labels / CUDA parents
  std::size_t sizes = 0;                                 // i32 (X, Y, Z): CUDA component sizes at roots
  std::size_t tiles = 0;                                 // i32 [tiles + 1]: CUDA eligible roots per tile, chosen root
  std::size_t total = 0;
};
WorkspaceLayout workspace_layout(Device device, std::int64_t voxels);
inline std::int64_t component_tiles(std::int64_t voxels) { return (voxels + kComponentTile - 1) / kComponentTile; }

}  // namespace nnuc::augment::detail

namespace nnuc::augment::cuda::detail {

// Clears one component of `channel` (f32 X Y Z on the device) as documented in cascade.h, with
// `parents`, `sizes` (i32 voxels each) and `tiles` (i32 component_tiles + 1) as scratch.
void remove_component(const Context& ctx, float* channel, const Shape3& patch, double choice, std::int32_t* parents,
                      std::int32_t* sizes, std::int32_t* tiles);

// parents[v] = smallest linear index of v's component in channel != 0 (26-connectivity), -1 off it.
void label_roots(const Context& ctx, const float* channel, const Shape3& patch, std::int32_t* parents);

}  // namespace nnuc::augment::cuda::detail
