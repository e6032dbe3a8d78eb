// CPU convolution passes in f32 with the packed AVX2 + FMA GEMM (conv_gemm.h): the same tiles and
// gathers as the Eigen version in conv_cpu.cpp, with the weight packed once per call into 16-column
// panels (the GEMM's B operand):
//   forward          y_tile (T, Co)   = col (T, kvol Ci) . [w^T packed]
//   backward_data    dx_tile (T, Ci)  = dy-col (T, taps Co) . [w_phase packed], per stride phase
//   backward_weight  dw^T (kvol Ci, Co) += col^T . dy_tile, per-thread partials in (kvol Ci, Co)
//                    layout (the GEMM streams them contiguously), added in thread order and
//                    transposed into dw at the end (deterministic for a given thread count).
#include <omp.h>

#include <algorithm>

#include "kernels/conv/conv_cpu_gather.h"
#include "kernels/conv/conv_gemm.h"

namespace nnuc::cpu {
namespace {

// Packs B (k x n) into zero-padded 16-column panels (conv_gemm.h), where row r of B is
// row_start(r)[j * column_stride] for j < n. Panel by panel, rows in order: with a column stride (the
// forward pass's w^T) only the panel's 16 source rows are live, which L1 holds; walking all columns
// of a row instead touches n lines a stride apart that alias to a few L1 sets.
template <typename RowStart>
void pack_panels(std::int64_t k, std::int64_t n, std::int64_t column_stride, float* packed, int threads,
                 RowStart row_start) {
  constexpr std::int64_t kRowBlock = 256;
  const std::int64_t panels = (n + kGemmPanelWidth - 1) / kGemmPanelWidth;
  const std::int64_t row_blocks = (k + kRowBlock - 1) / kRowBlock;
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2)
  for (std::int64_t panel = 0; panel < panels; ++panel)
    for (std::int64_t block = 0; block < row_blocks; ++block) {
      const std::int64_t columns = std::min(kGemmPanelWidth, n - panel * kGemmPanelWidth);
      const std::int64_t row_end = std::min(k, (block + 1) * kRowBlock);
      for (std::int64_t row = block * kRowBlock; row < row_end; ++row) {
        const float* from = row_start(row) + panel * kGemmPanelWidth * column_stride;
        float* out = packed + (panel * k + row) * kGemmPanelWidth;
        std::int64_t lane = 0;
        for (; lane < columns; ++lane) out[lane] = from[lane * column_stride];
        for (; lane < kGemmPanelWidth; ++lane) out[lane] = 0.0f;
      }
    }
}

void add_bias_rows(float* rows, std::int64_t count, std::int64_t channels, const float* bias) {
  for (std::int64_t row = 0; row < count; ++row, rows += channels)
    for (std::int64_t c = 0; c < channels; ++c) rows[c] += bias[c];
}

// ---- Unit-stride "same" convolutions without im2col (AVX-512) ----
//
// dst (N, D, H, W, Cd) = conv(src (N, D, H, W, Cs)) with stride 1 and padding (k - 1) / 2, B the packed
// (kvol Cs, Cd) weight whose row t Cs + c goes with tap t (flat kernel index) and source channel c.
// Output row (n, d, h, w) reads, for tap (t0, t1, t2), src at (d + t0 - p0, h + t1 - p1, w + t2 - p2):
// the same row of src shifted by a fixed offset per tap. For a run of rows whose taps are all inside
// the volume, each (t0, t1) is one GEMM segment of k2 Cs values read in place (gemm_f32_segments_avx512),
// and consecutive rows are Cs apart, so no copy is made.
//
// Phase 1, per (n, d) plane: lines are grouped by which t1 stay inside (the interior lines, and each
// border line alone), taps t0 outside the volume are left out of the plane's segments. A group's rows
// from (first line, w = p2) to (last line, w = W - 1 - (k2 - 1 - p2)) run as one strided A in blocks.
// The rows of that run whose own taps along W would leave their line (the line's first p2 and last
// k2 - 1 - p2 voxels) read the neighbouring line's voxels instead: their results are wrong and are
// written anyway, but every address stays inside src.
// Phase 2 (after a barrier) recomputes exactly those border rows (w < p2 or w > W - 1 - (k2 - 1 - p2))
// through the im2col gather into the thread's col tile, and overwrites them.
// Each output element is summed in one micro tile in a fixed order: the result does not depend on the
// thread count. It differs from the im2col path in rounding only (another summation order).

// The axis range of taps t with 0 <= i + t - p < extent, as [first, end).
std::array<int, 2> inside_taps(std::int64_t i, int kernel, int pad, std::int64_t extent) {
  const int first = static_cast<int>(std::max<std::int64_t>(0, pad - i));
  const int end = static_cast<int>(std::min<std::int64_t>(kernel, extent - i + pad));
  return {first, end};
}

struct DirectWork {
  std::int64_t first_row;  // global output row
  std::int64_t count;
  int segments;  // index of the segment list
};

void direct_same_conv(const float* src, const Shape& shape, std::int64_t dst_channels, const ConvGeometry& geometry,
                      const float* packed, const CpuConvPlan& plan, const Gather& border_gather, float* col_base,
                      const float* bias, float* dst) {
  const std::int64_t batch = shape[0], depth = shape[1], height = shape[2], width = shape[3];
  const std::int64_t cs = shape[4], cd = dst_channels;
  const std::array<int, 3>& k = geometry.kernel;
  const std::array<int, 3>& p = geometry.padding;
  const std::int64_t kvol = static_cast<std::int64_t>(k[0]) * k[1] * k[2];
  const std::int64_t row_length = kvol * cs;
  const std::int64_t plane = height * width;
  const std::int64_t w_first = p[2], w_last = width - 1 - (k[2] - 1 - p[2]);  // interior columns

  // Segment lists, one per (t0 range, t1 range).
  std::vector<std::vector<GemmSegment>> lists;
  std::vector<std::array<int, 4>> list_keys;
  auto list_for = [&](std::array<int, 2> t0, std::array<int, 2> t1) {
    const std::array<int, 4> key{t0[0], t0[1], t1[0], t1[1]};
    for (std::size_t i = 0; i < list_keys.size(); ++i)
      if (list_keys[i] == key) return static_cast<int>(i);
    std::vector<GemmSegment> segments;
    for (int a = t0[0]; a < t0[1]; ++a)
      for (int b = t1[0]; b < t1[1]; ++b)
        segments.push_back(GemmSegment{((a - p[0]) * plane + (b - p[1]) * width - p[2]) * cs,
                                       ((static_cast<std::int64_t>(a) * k[1] + b) * k[2]) * cs});
    lists.push_back(std::move(segments));
    list_keys.push_back(key);
    return static_cast<int>(lists.size() - 1);
  };

  // Phase 1 work: blocks of rows whose C block stays in L1 (about 24 KB).
  const std::int64_t block = std::max<std::int64_t>(12, (6144 / std::max<std::int64_t>(cd, 1)) / 12 * 12);
  std::vector<DirectWork> work;
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t d = 0; d < depth; ++d) {
      const std::array<int, 2> t0 = inside_taps(d, k[0], p[0], depth);
      const std::int64_t plane_row = (n * depth + d) * plane;
      for (std::int64_t h = 0; h < height;) {
        const std::array<int, 2> t1 = inside_taps(h, k[1], p[1], height);
        std::int64_t last = h;  // the group: lines with the same t1 range
        while (last + 1 < height && inside_taps(last + 1, k[1], p[1], height) == t1) ++last;
        const int list = list_for(t0, t1);
        const std::int64_t first_row = plane_row + h * width + w_first;
        const std::int64_t end_row = plane_row + last * width + w_last + 1;
        if (!lists[static_cast<std::size_t>(list)].empty())
          for (std::int64_t row = first_row; row < end_row; row += block)
            work.push_back(DirectWork{row, std::min(block, end_row - row), list});
        h = last + 1;
      }
    }
  // Phase 2 work: the border rows of runs of lines, as many as fit a thread's col tile with their
  // results (count (row_length + cd) <= tile_rows row_length). None with a kernel of 1 along W.
  std::vector<std::int64_t> border_columns;
  for (std::int64_t w = 0; w < width; ++w)
    if (w < w_first || w > w_last) border_columns.push_back(w);
  const std::int64_t border_per_line = static_cast<std::int64_t>(border_columns.size());
  const std::int64_t capacity = plan.tile_rows * row_length / (row_length + cd);
  const std::int64_t lines_per_task = std::max<std::int64_t>(1, capacity / std::max<std::int64_t>(border_per_line, 1));
  const std::int64_t lines = batch * depth * height;
  const std::int64_t border_tasks = border_per_line == 0 ? 0 : (lines + lines_per_task - 1) / lines_per_task;

#pragma omp parallel num_threads(plan.threads)
  {
#pragma omp for schedule(dynamic, 1)
    for (std::size_t index = 0; index < work.size(); ++index) {
      const DirectWork& item = work[index];
      const std::vector<GemmSegment>& segments = lists[static_cast<std::size_t>(item.segments)];
      float* out = dst + item.first_row * cd;
      gemm_f32_segments_avx512(item.count, cd, k[2] * cs, segments.data(), static_cast<int>(segments.size()),
                               src + item.first_row * cs, cs, packed, row_length, out, cd, false);
      if (bias != nullptr) add_bias_rows(out, item.count, cd, bias);
    }
    // (implicit barrier: every phase-1 write, the border rows' wrong values included, is done)
    float* col = col_base + static_cast<std::int64_t>(omp_get_thread_num()) * plan.tile_rows * row_length;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t task = 0; task < border_tasks; ++task) {
      const std::int64_t line_end = std::min(lines, (task + 1) * lines_per_task);
      std::int64_t count = 0;
      for (std::int64_t line = task * lines_per_task; line < line_end; ++line)
        for (std::int64_t w : border_columns)
          gather_rows(src, border_gather, line * width + w, 1, col + count++ * row_length);
      float* results = col + count * row_length;
      gemm_f32_avx2(count, cd, row_length, GemmA{col, row_length, 1}, GemmB{packed, kGemmPanelWidth, true}, results, cd,
                    false);
      if (bias != nullptr) add_bias_rows(results, count, cd, bias);
      const float* result = results;
      for (std::int64_t line = task * lines_per_task; line < line_end; ++line)
        for (std::int64_t w : border_columns) {
          std::copy(result, result + cd, dst + (line * width + w) * cd);
          result += cd;
        }
    }
  }
}

}  // namespace

bool direct_conv_applies(const Shape& src, std::int64_t dst_channels, const ConvGeometry& geometry,
                         const CpuConvPlan& plan) {
  if (!gemm_uses_avx512()) return false;
  std::int64_t kvol = 1;
  for (int axis = 0; axis < 3; ++axis) {
    const int k = geometry.kernel[static_cast<std::size_t>(axis)];
    if (geometry.stride[static_cast<std::size_t>(axis)] != 1 ||
        2 * geometry.padding[static_cast<std::size_t>(axis)] != k - 1)
      return false;
    kvol *= k;
  }
  // Few output channels per copied input value make the im2col copy expensive (it moves kvol Cs values
  // per row for 2 kvol Cs Cd FLOPs); wide lines keep the border rows few.
  // The border rows of one line (k2 - 1 of them) must fit a col tile with their results.
  const std::int64_t row_length = kvol * src[4];
  return kvol > 1 && dst_channels <= kDirectConvMaxChannels && src[3] >= kDirectConvMinWidth &&
         src[3] >= geometry.kernel[2] &&
         plan.tile_rows * row_length / (row_length + dst_channels) >= geometry.kernel[2];
}

void conv_forward_avx2(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& geometry,
                       const CpuConvPlan& plan, std::vector<Tensor>& scratch, Tensor& y) {
  const Gather gather = forward_gather(x.shape(), y.shape(), geometry);
  const bool in_place = gather_is_identity(gather);
  const std::int64_t co = y.dim(Activation::C);
  const std::int64_t rows = y.numel() / co;
  const std::int64_t k = gather.row_length();
  const float* x_data = x.data<float>();
  float* y_data = y.data<float>();
  float* col_base = in_place ? nullptr : scratch.at(0).data<float>();
  float* packed = scratch.at(in_place ? 0 : 1).data<float>();  // w^T (kvol Ci, Co) in panels
  const float* w_data = w.data<float>();
  pack_panels(k, co, k, packed, plan.threads, [&](std::int64_t row) { return w_data + row; });
  const float* bias_data = bias.defined() ? bias.data<float>() : nullptr;
  if (!in_place && direct_conv_applies(x.shape(), co, geometry, plan))
    return direct_same_conv(x_data, x.shape(), co, geometry, packed, plan, gather, col_base, bias_data, y_data);

  for_each_gathered_tile(
      x_data, gather, rows, plan.tile_rows, plan.threads, col_base,
      [&](std::int64_t first, std::int64_t count, const float* lhs) {
        float* out = y_data + first * co;
        gemm_f32_avx2(count, co, k, GemmA{lhs, k, 1}, GemmB{packed, kGemmPanelWidth, true}, out, co, false);
        if (bias_data != nullptr) add_bias_rows(out, count, co, bias_data);
      });
}

void conv_backward_data_avx2(const Tensor& dy, const Tensor& w, const ConvGeometry& geometry, const CpuConvPlan& plan,
                             std::vector<Tensor>& scratch, Tensor& dx) {
  const Shape& x_shape = dx.shape();
  const std::int64_t co = dy.dim(Activation::C);
  const std::int64_t ci = dx.dim(Activation::C);
  const std::int64_t kvol = static_cast<std::int64_t>(geometry.kernel[0]) * geometry.kernel[1] * geometry.kernel[2];
  const BackwardDataWork work = backward_data_work(x_shape, dy.shape(), geometry, plan.tile_rows);
  const std::vector<Phase>& phases = work.phases;
  std::size_t next = 0;
  float* dycol_base = work.in_place ? nullptr : scratch.at(next++).data<float>();
  float* tile_base = work.rows_in_place ? nullptr : scratch.at(next++).data<float>();
  float* packed = scratch.at(next++).data<float>();
  const float* w_data = w.data<float>();

  // Unit stride, same padding: dx is the same convolution of dy with the kernel mirrored and transposed,
  // B row (u, c) = w[c, kvol - 1 - u, :] (u the flat tap; mirroring every axis reverses the flat index),
  // in the one phase's packed buffer (the same size).
  if (!work.in_place && direct_conv_applies(dy.shape(), ci, geometry, plan)) {
    pack_panels(kvol * co, ci, 1, packed, plan.threads, [&](std::int64_t row) {
      const std::int64_t tap = kvol - 1 - row / co, c = row % co;
      return w_data + (c * kvol + tap) * ci;
    });
    const Gather gather = forward_gather(dy.shape(), x_shape, geometry);
    return direct_same_conv(dy.data<float>(), dy.shape(), ci, geometry, packed, plan, gather, dycol_base, nullptr,
                            dx.data<float>());
  }

  // w_phase (taps Co, Ci): row (t, c) holds w[c, tap_t, :], packed per phase.
  std::vector<std::int64_t> packed_offset(phases.size(), 0);
  for (std::size_t p = 0, offset = 0; p < phases.size(); ++p) {
    packed_offset[p] = static_cast<std::int64_t>(offset);
    offset += static_cast<std::size_t>(packed_b_elements(phases[p].gather.taps() * co, ci));
  }
  for (std::size_t p = 0; p < phases.size(); ++p) {
    if (phases[p].gather.taps() == 0) continue;
    const std::vector<std::int64_t> taps = phase_tap_offsets(phases[p], geometry);
    pack_panels(phases[p].gather.taps() * co, ci, 1, packed + packed_offset[p], plan.threads, [&](std::int64_t row) {
      const std::int64_t tap = taps[static_cast<std::size_t>(row / co)], c = row % co;
      return w_data + (c * kvol + tap) * ci;
    });
  }

  for_each_phase_tile(
      work, dy.data<float>(), co, dx.data<float>(), x_shape, geometry, plan.tile_rows, plan.threads, dycol_base,
      tile_base, [&](const PhaseTask& task, const Phase&, const float* lhs, std::int64_t k, float* result) {
        gemm_f32_avx2(task.count, ci, k, GemmA{lhs, k, 1},
                      GemmB{packed + packed_offset[task.phase], kGemmPanelWidth, true}, result, ci, false);
      });
}

void conv_backward_weight_avx2(const Tensor& x, const Tensor& dy, const ConvGeometry& geometry, const CpuConvPlan& plan,
                               std::vector<Tensor>& scratch, Tensor& dw) {
  const Gather gather = forward_gather(x.shape(), dy.shape(), geometry);
  const bool in_place = gather_is_identity(gather);
  const std::int64_t co = dy.dim(Activation::C);
  const std::int64_t rows = dy.numel() / co;
  const std::int64_t k = gather.row_length();
  const std::int64_t tile = plan.tile_rows;
  const std::int64_t tiles = (rows + tile - 1) / tile;
  const float* x_data = x.data<float>();
  const float* dy_data = dy.data<float>();
  float* dw_data = dw.data<float>();
  float* col_base = in_place ? nullptr : scratch.at(0).data<float>();
  float* partial_base = scratch.at(in_place ? 0 : 1).data<float>();  // threads x (kvol Ci, Co)
  const std::int64_t weight_elements = co * k;

#pragma omp parallel num_threads(plan.threads)
  {
    const int thread = omp_get_thread_num();
    const int team = omp_get_num_threads();
    float* partial = partial_base + static_cast<std::int64_t>(thread) * weight_elements;
    std::fill(partial, partial + weight_elements, 0.0f);
    float* col = in_place ? nullptr : col_base + static_cast<std::int64_t>(thread) * tile * k;
#pragma omp for schedule(static)
    for (std::int64_t index = 0; index < tiles; ++index) {
      const std::int64_t first = index * tile;
      const std::int64_t count = std::min(tile, rows - first);
      const float* source = x_data + first * k;
      if (!in_place) {
        gather_rows(x_data, gather, first, count, col);
        source = col;
      }
      // dw^T (k, Co) += col^T (k, count) . dy_tile (count, Co)
      gemm_f32_avx2(k, co, count, GemmA{source, 1, k}, GemmB{dy_data + first * co, co, false}, partial, co, true);
    }
    // (implicit barrier) dw[c, r] = sum over threads of partial[r, c], in thread order.
#pragma omp for schedule(static)
    for (std::int64_t row = 0; row < k; ++row)
      for (std::int64_t c = 0; c < co; ++c) {
        float sum = 0.0f;
        for (int other = 0; other < team; ++other)
          sum += partial_base[static_cast<std::int64_t>(other) * weight_elements + row * co + c];
        dw_data[c * k + row] = sum;
      }
  }
}

}  // namespace nnuc::cpu
