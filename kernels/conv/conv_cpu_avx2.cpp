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

}  // namespace

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
