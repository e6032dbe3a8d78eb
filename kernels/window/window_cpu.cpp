// CPU sliding-window ops: OpenMP over the rows (x0, x1) of a tile. Within one tile the rows map to
// distinct voxels of the case, so accumulate_tiles parallelizes inside a tile and takes tiles in order.
#include <algorithm>

#include "kernels/window/window_impl.h"

namespace nnuc::cpu {

namespace {

// Source index along an axis of size t for tile position x (mirrored when `flipped`).
inline std::int64_t mirrored(std::int64_t x, std::int64_t t, bool flipped) { return flipped ? t - 1 - x : x; }

// The range [first, last) of tile positions x along an axis whose case voxel o + x lies in [0, b).
inline void inside(std::int64_t origin, std::int64_t t, std::int64_t b, std::int64_t& first, std::int64_t& last) {
  first = std::clamp<std::int64_t>(-origin, 0, t);
  last = std::clamp<std::int64_t>(b - origin, first, t);
}

constexpr std::int64_t kParallelElements = std::int64_t{1} << 15;

}  // namespace

void extract_tiles(const Tensor& image, const std::vector<TileOrigin>& origins, const TileSize& tile,
                   unsigned flip_axes, Tensor& out) {
  const std::int64_t C = image.dim(0), b0 = image.dim(1), b1 = image.dim(2), b2 = image.dim(3);
  const std::int64_t t0 = tile[0], t1 = tile[1], t2 = tile[2];
  const std::int64_t case_voxels = b0 * b1 * b2;
  const bool f0 = flip_axes & kFlipD, f1 = flip_axes & kFlipH, f2 = flip_axes & kFlipW;
  const float* in = image.data<float>();
  float* target = out.data<float>();
  const auto tiles = static_cast<std::int64_t>(origins.size());
  const std::int64_t rows = tiles * t0 * t1;
#pragma omp parallel for schedule(static) if (out.numel() >= kParallelElements)
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t n = row / (t0 * t1), x0 = row / t1 % t0, x1 = row % t1;
    const TileOrigin& o = origins[static_cast<std::size_t>(n)];
    float* line = target + row * t2 * C;  // (t2, C)
    const std::int64_t v0 = o[0] + mirrored(x0, t0, f0), v1 = o[1] + mirrored(x1, t1, f1);
    const bool row_inside = v0 >= 0 && v0 < b0 && v1 >= 0 && v1 < b1;
    for (std::int64_t x2 = 0; x2 < t2; ++x2) {
      const std::int64_t v2 = o[2] + mirrored(x2, t2, f2);
      if (!row_inside || v2 < 0 || v2 >= b2) {
        std::fill(line + x2 * C, line + (x2 + 1) * C, 0.0f);
        continue;
      }
      const float* source = in + (v0 * b1 + v1) * b2 + v2;
      for (std::int64_t c = 0; c < C; ++c) line[x2 * C + c] = source[c * case_voxels];
    }
  }
}

void add_flipped_tiles(const Tensor& logits, unsigned flip_axes, Tensor& sum, bool overwrite) {
  const std::int64_t N = logits.dim(0), t0 = logits.dim(1), t1 = logits.dim(2), t2 = logits.dim(3);
  const std::int64_t K = logits.dim(4);
  const bool f0 = flip_axes & kFlipD, f1 = flip_axes & kFlipH, f2 = flip_axes & kFlipW;
  const float* in = logits.data<float>();
  float* target = sum.data<float>();
  const std::int64_t rows = N * t0 * t1;
#pragma omp parallel for schedule(static) if (sum.numel() >= kParallelElements)
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t n = row / (t0 * t1), x0 = row / t1 % t0, x1 = row % t1;
    const std::int64_t source_row = (n * t0 + mirrored(x0, t0, f0)) * t1 + mirrored(x1, t1, f1);
    float* line = target + row * t2 * K;
    const float* source_line = in + source_row * t2 * K;
    for (std::int64_t x2 = 0; x2 < t2; ++x2) {
      const float* source = source_line + mirrored(x2, t2, f2) * K;
      float* out = line + x2 * K;
      if (overwrite) {
        for (std::int64_t k = 0; k < K; ++k) out[k] = source[k];
      } else {
        for (std::int64_t k = 0; k < K; ++k) out[k] = out[k] + source[k];
      }
    }
  }
}

void accumulate_tiles(const Tensor& tile_sum, const Tensor& gaussian, float scale,
                      const std::vector<TileOrigin>& origins, Tensor& acc, Tensor& weights) {
  const std::int64_t t0 = tile_sum.dim(1), t1 = tile_sum.dim(2), t2 = tile_sum.dim(3), K = tile_sum.dim(4);
  const std::int64_t b0 = acc.dim(1), b1 = acc.dim(2), b2 = acc.dim(3);
  const std::int64_t case_voxels = b0 * b1 * b2;
  const float* g = gaussian.data<float>();
  float* a = acc.data<float>();
  float* w = weights.data<float>();
  for (std::size_t n = 0; n < origins.size(); ++n) {
    const TileOrigin& o = origins[n];
    std::int64_t first0, last0, first1, last1, first2, last2;
    inside(o[0], t0, b0, first0, last0);
    inside(o[1], t1, b1, first1, last1);
    inside(o[2], t2, b2, first2, last2);
    const float* tile = tile_sum.data<float>() + static_cast<std::int64_t>(n) * t0 * t1 * t2 * K;
    const std::int64_t rows0 = last0 - first0, rows1 = last1 - first1;
#pragma omp parallel for schedule(static) if (rows0 * rows1 * (last2 - first2) * K >= kParallelElements)
    for (std::int64_t row = 0; row < rows0 * rows1; ++row) {
      const std::int64_t x0 = first0 + row / rows1, x1 = first1 + row % rows1;
      const std::int64_t case_row = ((o[0] + x0) * b1 + (o[1] + x1)) * b2 + o[2];
      const std::int64_t tile_row = (x0 * t1 + x1) * t2;
      for (std::int64_t x2 = first2; x2 < last2; ++x2) {
        const float weight = g[tile_row + x2];
        const float* values = tile + (tile_row + x2) * K;
        const std::int64_t v = case_row + x2;
        for (std::int64_t k = 0; k < K; ++k) {
          const float weighted = (values[k] * scale) * weight;
          a[k * case_voxels + v] = a[k * case_voxels + v] + weighted;
        }
        w[v] = w[v] + weight;
      }
    }
  }
}

void normalize_by_weights(Tensor& acc, const Tensor& weights) {
  const std::int64_t voxels = weights.numel(), K = acc.dim(0);
  const float* w = weights.data<float>();
  float* a = acc.data<float>();
  const std::int64_t total = K * voxels;
#pragma omp parallel for schedule(static) if (total >= kParallelElements)
  for (std::int64_t i = 0; i < total; ++i) a[i] = a[i] / w[i % voxels];
}

}  // namespace nnuc::cpu
