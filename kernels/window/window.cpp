// Public entry points of the sliding-window ops: check at the door, allocate, dispatch.
#include "kernels/window/window.h"

#include <cmath>

#include "kernels/elementwise/dispatch.h"
#include "kernels/window/window_impl.h"

namespace nnuc {

namespace {

constexpr unsigned kAllFlips = kFlipD | kFlipH | kFlipW;

void check_flip_axes(unsigned flip_axes, const char* op) {
  NNUC_CHECK((flip_axes & ~kAllFlips) == 0, op, ": flip_axes must be a subset of kFlipD | kFlipH | kFlipW (7), got ",
             flip_axes);
}

void check_f32(const Tensor& tensor, const Context& ctx, const char* op, const char* name, int rank) {
  detail::check_operand(tensor, ctx, op, name);
  NNUC_CHECK(tensor.dtype() == DType::f32 && tensor.rank() == rank, op, ": ", name, " must be f32 of rank ", rank,
             ", got ", tensor.describe());
}

// (N, t0, t1, t2, K) of `tensor`, with the message naming the op and the argument.
void check_tile_batch(const Tensor& tensor, const Context& ctx, const char* op, const char* name) {
  detail::check_operand(tensor, ctx, op, name);
  NNUC_CHECK(tensor.rank() == 5, op, ": ", name, " must be (N, t0, t1, t2, K), got ", tensor.describe());
}

}  // namespace

Tensor extract_tiles(const Context& ctx, const Tensor& image, const std::vector<TileOrigin>& origins,
                     const TileSize& tile, unsigned flip_axes, DType dtype) {
  check_f32(image, ctx, "extract_tiles", "image", 4);
  NNUC_CHECK(!origins.empty(), "extract_tiles: no tile origins");
  NNUC_CHECK(tile[0] >= 1 && tile[1] >= 1 && tile[2] >= 1, "extract_tiles: tile sizes must be >= 1, got (", tile[0],
             ", ", tile[1], ", ", tile[2], ")");
  check_flip_axes(flip_axes, "extract_tiles");
  if (detail::rules_device(ctx) == Device::CUDA) {
    NNUC_CHECK(dtype == DType::f32 || dtype == DType::bf16, "extract_tiles: dtype must be f32 or bf16 on CUDA, got ",
               dtype_name(dtype));
  } else {
    NNUC_CHECK(dtype == DType::f32, "extract_tiles: dtype must be f32 on the CPU, got ", dtype_name(dtype));
  }
  const auto n = static_cast<std::int64_t>(origins.size());
  Tensor out = Tensor::empty(Shape{n, tile[0], tile[1], tile[2], image.dim(0)}, dtype, ctx);  // (N, t0, t1, t2, C)
  switch (ctx.device()) {
    case Device::CPU: cpu::extract_tiles(image, origins, tile, flip_axes, out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::extract_tiles(ctx, image, origins, tile, flip_axes, out)); break;
    case Device::Meta: break;
  }
  return out;
}

void add_flipped_tiles(const Context& ctx, const Tensor& logits, unsigned flip_axes, Tensor& sum, bool overwrite) {
  check_tile_batch(logits, ctx, "add_flipped_tiles", "logits");
  if (detail::rules_device(ctx) == Device::CUDA)
    detail::check_dtype_in(logits, {DType::f32, DType::bf16}, ctx, "add_flipped_tiles", "logits");
  else
    detail::check_dtype_in(logits, {DType::f32}, ctx, "add_flipped_tiles", "logits");
  check_f32(sum, ctx, "add_flipped_tiles", "sum", 5);
  check_same_shape(sum, logits, "add_flipped_tiles: sum", "logits");
  NNUC_CHECK(sum.raw() != logits.raw() || sum.numel() == 0, "add_flipped_tiles: sum and logits are the same tensor");
  check_flip_axes(flip_axes, "add_flipped_tiles");
  switch (ctx.device()) {
    case Device::CPU: cpu::add_flipped_tiles(logits, flip_axes, sum, overwrite); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::add_flipped_tiles(ctx, logits, flip_axes, sum, overwrite)); break;
    case Device::Meta: break;
  }
}

void accumulate_tiles(const Context& ctx, const Tensor& tile_sum, const Tensor& gaussian, float scale,
                      const std::vector<TileOrigin>& origins, Tensor& acc, Tensor& weights) {
  check_f32(tile_sum, ctx, "accumulate_tiles", "tile_sum", 5);
  check_f32(gaussian, ctx, "accumulate_tiles", "gaussian", 3);
  check_f32(acc, ctx, "accumulate_tiles", "acc", 4);
  check_f32(weights, ctx, "accumulate_tiles", "weights", 3);
  check_shape(gaussian, Shape{tile_sum.dim(1), tile_sum.dim(2), tile_sum.dim(3)}, "accumulate_tiles: gaussian");
  check_shape(weights, Shape{acc.dim(1), acc.dim(2), acc.dim(3)}, "accumulate_tiles: weights");
  NNUC_CHECK(acc.dim(0) == tile_sum.dim(4), "accumulate_tiles: acc ", acc.describe(), " has ", acc.dim(0),
             " channels but tile_sum ", tile_sum.describe(), " has ", tile_sum.dim(4));
  NNUC_CHECK(static_cast<std::int64_t>(origins.size()) == tile_sum.dim(0), "accumulate_tiles: ", origins.size(),
             " origins for ", tile_sum.dim(0), " tiles");
  NNUC_CHECK(std::isfinite(scale), "accumulate_tiles: scale must be finite, got ", scale);
  switch (ctx.device()) {
    case Device::CPU: cpu::accumulate_tiles(tile_sum, gaussian, scale, origins, acc, weights); break;
    case Device::CUDA:
      NNUC_IF_CUDA(cuda::accumulate_tiles(ctx, tile_sum, gaussian, scale, origins, acc, weights));
      break;
    case Device::Meta: break;
  }
}

void normalize_by_weights(const Context& ctx, Tensor& acc, const Tensor& weights) {
  check_f32(acc, ctx, "normalize_by_weights", "acc", 4);
  check_f32(weights, ctx, "normalize_by_weights", "weights", 3);
  check_shape(weights, Shape{acc.dim(1), acc.dim(2), acc.dim(3)}, "normalize_by_weights: weights");
  switch (ctx.device()) {
    case Device::CPU: cpu::normalize_by_weights(acc, weights); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::normalize_by_weights(ctx, acc, weights)); break;
    case Device::Meta: break;
  }
}

}  // namespace nnuc
