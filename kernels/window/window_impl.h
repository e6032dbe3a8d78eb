// Internal to kernels/window: the CPU and CUDA implementations of window.h, with the same names, valid
// input assumed, outputs allocated by the entry points (window.cpp), which dispatch between them.
#pragma once

#include "kernels/window/window.h"

namespace nnuc {

namespace cpu {
void extract_tiles(const Tensor& image, const std::vector<TileOrigin>& origins, const TileSize& tile,
                   unsigned flip_axes, Tensor& out);
void add_flipped_tiles(const Tensor& logits, unsigned flip_axes, Tensor& sum, bool overwrite);
void accumulate_tiles(const Tensor& tile_sum, const Tensor& gaussian, float scale,
                      const std::vector<TileOrigin>& origins, Tensor& acc, Tensor& weights);
void normalize_by_weights(Tensor& acc, const Tensor& weights);
}  // namespace cpu

namespace cuda {
void extract_tiles(const Context& ctx, const Tensor& image, const std::vector<TileOrigin>& origins,
                   const TileSize& tile, unsigned flip_axes, Tensor& out);
void add_flipped_tiles(const Context& ctx, const Tensor& logits, unsigned flip_axes, Tensor& sum, bool overwrite);
void accumulate_tiles(const Context& ctx, const Tensor& tile_sum, const Tensor& gaussian, float scale,
                      const std::vector<TileOrigin>& origins, Tensor& acc, Tensor& weights);
void normalize_by_weights(const Context& ctx, Tensor& acc, const Tensor& weights);
}  // namespace cuda

}  // namespace nnuc
