// CPU convolution: im2col in tiles of voxels + GEMM, OpenMP over tiles. This file holds the Eigen
// GEMM version (f64, and f32 on CPUs without AVX2); f32 on AVX2 + FMA CPUs runs the same steps with
// the packed micro-kernel GEMM of conv_gemm.h (conv_cpu_avx2.cpp).
//
// Every pass is "gather rows, then one GEMM per tile":
//   forward          col (T, kvol Ci) gathered from x            y_tile (T, Co)  = col . w^T
//   backward_weight  col as forward                              dw (Co, kvol Ci) += dy_tile^T . col
//   backward_data    per stride phase: dy-col (T, taps Co)        dx_tile (T, Ci) = dy-col . w_phase
// Channels-last makes each gathered row k^3 contiguous runs of C values.
//
// Backward data is a gather per input voxel (race-free): an input index i along an axis receives
// from output o through tap k when i = o s - p + k, i.e. only taps k = (i + p) mod s (mod s) are live
// for i. Grouping input voxels by their phase (i mod s per axis) gives every tile one fixed tap set,
// so a stride-2 conv does no multiplications with zeros. Each input voxel belongs to exactly one tile.
//
// Backward weight accumulates per-thread partial dw (thread 0 into dw itself) over a static schedule,
// then reduces them in thread order: deterministic for a given thread count.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "kernels/conv/conv_cpu_gather.h"

namespace nnuc::cpu {
namespace {

template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMatrixMap = Eigen::Map<const RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using MatrixMap = Eigen::Map<RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using ConstRowVectorMap = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>;

template <typename T>
T* scratch_data(std::vector<Tensor>& scratch, std::size_t index) {
  return scratch.at(index).data<T>();
}

template <typename T>
void forward_typed(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& geometry,
                   const CpuConvPlan& plan, std::vector<Tensor>& scratch, Tensor& y) {
  const Gather gather = forward_gather(x.shape(), y.shape(), geometry);
  const bool in_place = gather_is_identity(gather);
  const std::int64_t rows = y.numel() / y.dim(Activation::C);
  const std::int64_t co = y.dim(Activation::C);
  const std::int64_t k = gather.row_length();
  const T* x_data = x.data<T>();
  T* y_data = y.data<T>();
  T* col_base = in_place ? nullptr : scratch_data<T>(scratch, 0);
  const ConstMatrixMap<T> weight(w.data<T>(), co, k, Eigen::OuterStride<>(k));  // (Co, kvol Ci)
  const bool has_bias = bias.defined();
  const T* bias_data = has_bias ? bias.data<T>() : nullptr;

  for_each_gathered_tile(x_data, gather, rows, plan.tile_rows, plan.threads, col_base,
                         [&](std::int64_t first, std::int64_t count, const T* lhs) {
                           MatrixMap<T> out(y_data + first * co, count, co, Eigen::OuterStride<>(co));
                           out.noalias() =
                               ConstMatrixMap<T>(lhs, count, k, Eigen::OuterStride<>(k)) * weight.transpose();
                           if (has_bias) out.rowwise() += ConstRowVectorMap<T>(bias_data, co);
                         });
}

template <typename T>
void backward_weight_typed(const Tensor& x, const Tensor& dy, const ConvGeometry& geometry, const CpuConvPlan& plan,
                           std::vector<Tensor>& scratch, Tensor& dw) {
  const Gather gather = forward_gather(x.shape(), dy.shape(), geometry);
  const bool in_place = gather_is_identity(gather);
  const std::int64_t rows = dy.numel() / dy.dim(Activation::C);
  const std::int64_t co = dy.dim(Activation::C);
  const std::int64_t k = gather.row_length();
  const std::int64_t tile = plan.tile_rows;
  const std::int64_t tiles = (rows + tile - 1) / tile;
  const T* x_data = x.data<T>();
  const T* dy_data = dy.data<T>();
  T* dw_data = dw.data<T>();
  T* col_base = in_place ? nullptr : scratch_data<T>(scratch, 0);
  const std::size_t partial_index = in_place ? 0 : 1;
  T* partial_base = plan.threads > 1 ? scratch_data<T>(scratch, partial_index) : nullptr;
  const std::int64_t weight_elements = co * k;

#pragma omp parallel num_threads(plan.threads)
  {
    const int thread = omp_get_thread_num();
    const int team = omp_get_num_threads();
    T* accumulator = thread == 0 ? dw_data : partial_base + static_cast<std::int64_t>(thread - 1) * weight_elements;
    std::fill(accumulator, accumulator + weight_elements, T(0));
    MatrixMap<T> partial(accumulator, co, k, Eigen::OuterStride<>(k));
    T* col = in_place ? nullptr : col_base + static_cast<std::int64_t>(thread) * tile * k;
#pragma omp for schedule(static)
    for (std::int64_t index = 0; index < tiles; ++index) {
      const std::int64_t first = index * tile;
      const std::int64_t count = std::min(tile, rows - first);
      const T* rhs = x_data + first * k;
      if (!in_place) {
        gather_rows(x_data, gather, first, count, col);
        rhs = col;
      }
      const ConstMatrixMap<T> dy_tile(dy_data + first * co, count, co, Eigen::OuterStride<>(co));
      partial.noalias() += dy_tile.transpose() * ConstMatrixMap<T>(rhs, count, k, Eigen::OuterStride<>(k));
    }
    // (implicit barrier) dw += partials of threads 1 .. team - 1, in thread order.
#pragma omp for schedule(static)
    for (std::int64_t element = 0; element < weight_elements; ++element) {
      T sum = dw_data[element];
      for (int other = 1; other < team; ++other)
        sum += partial_base[static_cast<std::int64_t>(other - 1) * weight_elements + element];
      dw_data[element] = sum;
    }
  }
}

template <typename T>
void backward_data_typed(const Tensor& dy, const Tensor& w, const ConvGeometry& geometry, const CpuConvPlan& plan,
                         std::vector<Tensor>& scratch, Tensor& dx) {
  const Shape& x_shape = dx.shape();
  const std::int64_t co = dy.dim(Activation::C);
  const std::int64_t ci = dx.dim(Activation::C);
  const std::int64_t kvol = static_cast<std::int64_t>(geometry.kernel[0]) * geometry.kernel[1] * geometry.kernel[2];
  const BackwardDataWork work = backward_data_work(x_shape, dy.shape(), geometry, plan.tile_rows);
  const bool phase_weight = work.max_taps > 1;

  std::size_t next = 0;
  T* dycol_base = work.in_place ? nullptr : scratch_data<T>(scratch, next++);
  T* tile_base = work.rows_in_place ? nullptr : scratch_data<T>(scratch, next++);
  T* weight_phased = phase_weight ? scratch_data<T>(scratch, next++) : nullptr;
  const T* w_data = w.data<T>();

  // Weight rows ordered by phase, then tap (t0, t1, t2), then co: w_phase (taps Co, Ci).
  if (phase_weight) {
    const int k1 = geometry.kernel[1], k2 = geometry.kernel[2];
#pragma omp parallel for num_threads(plan.threads) schedule(static)
    for (std::int64_t index = 0; index < static_cast<std::int64_t>(work.phases.size()); ++index) {
      const Phase& phase = work.phases[static_cast<std::size_t>(index)];
      T* out = weight_phased + phase.weight_offset * ci;
      for (int t0 : phase.taps[0])
        for (int t1 : phase.taps[1])
          for (int t2 : phase.taps[2]) {
            const std::int64_t tap = (static_cast<std::int64_t>(t0) * k1 + t1) * k2 + t2;
            for (std::int64_t c = 0; c < co; ++c, out += ci)
              std::memcpy(out, w_data + (c * kvol + tap) * ci, static_cast<std::size_t>(ci) * sizeof(T));
          }
    }
  }

  for_each_phase_tile(
      work, dy.data<T>(), co, dx.data<T>(), x_shape, geometry, plan.tile_rows, plan.threads, dycol_base, tile_base,
      [&](const PhaseTask& task, const Phase& phase, const T* lhs, std::int64_t k, T* result) {
        MatrixMap<T> out(result, task.count, ci, Eigen::OuterStride<>(ci));
        const ConstMatrixMap<T> dy_cols(lhs, task.count, k, Eigen::OuterStride<>(k));
        if (phase_weight) {
          out.noalias() =
              dy_cols * ConstMatrixMap<T>(weight_phased + phase.weight_offset * ci, k, ci, Eigen::OuterStride<>(ci));
        } else {  // one tap: w[:, tap, :] is (Co, Ci) with row stride kvol Ci
          const std::int64_t tap =
              (static_cast<std::int64_t>(phase.taps[0][0]) * geometry.kernel[1] + phase.taps[1][0]) *
                  geometry.kernel[2] +
              phase.taps[2][0];
          out.noalias() = dy_cols * ConstMatrixMap<T>(w_data + tap * ci, co, ci, Eigen::OuterStride<>(kvol * ci));
        }
      });
}

template <typename T>
void backward_bias_typed(const Tensor& dy, const CpuConvPlan& plan, std::vector<Tensor>& scratch, Tensor& db) {
  const std::int64_t co = dy.dim(Activation::C);
  const std::int64_t rows = dy.numel() / co;
  const T* dy_data = dy.data<T>();
  double* partials = scratch_data<double>(scratch, 0);
#pragma omp parallel num_threads(plan.threads)
  {
    const int thread = omp_get_thread_num();
    const int team = omp_get_num_threads();
    double* sum = partials + static_cast<std::int64_t>(thread) * co;
    std::fill(sum, sum + co, 0.0);
#pragma omp for schedule(static)
    for (std::int64_t row = 0; row < rows; ++row) {
      const T* values = dy_data + row * co;
      for (std::int64_t c = 0; c < co; ++c) sum[c] += static_cast<double>(values[c]);
    }
#pragma omp single
    {
      T* out = db.data<T>();
      for (std::int64_t c = 0; c < co; ++c) {
        double total = 0;
        for (int other = 0; other < team; ++other) total += partials[static_cast<std::int64_t>(other) * co + c];
        out[c] = static_cast<T>(total);
      }
    }
  }
}

template <typename T>
void add_bias_typed(Tensor& y, const Tensor& bias) {
  const std::int64_t co = y.dim(Activation::C);
  const std::int64_t rows = y.numel() / co;
  T* y_data = y.data<T>();
  const T* bias_data = bias.data<T>();
#pragma omp parallel for num_threads(conv_detail::cpu_threads()) schedule(static)
  for (std::int64_t row = 0; row < rows; ++row)
    for (std::int64_t c = 0; c < co; ++c) y_data[row * co + c] += bias_data[c];
}

}  // namespace

void conv_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& geometry,
                  const CpuConvPlan& plan, std::vector<Tensor>& scratch, Tensor& y) {
  if (x.dtype() == DType::f64) return forward_typed<double>(x, w, bias, geometry, plan, scratch, y);
  if (plan.avx2) return conv_forward_avx2(x, w, bias, geometry, plan, scratch, y);
  forward_typed<float>(x, w, bias, geometry, plan, scratch, y);
}

void conv_backward_data(const Tensor& dy, const Tensor& w, const ConvGeometry& geometry, const CpuConvPlan& plan,
                        std::vector<Tensor>& scratch, Tensor& dx) {
  if (dy.dtype() == DType::f64) return backward_data_typed<double>(dy, w, geometry, plan, scratch, dx);
  if (plan.avx2) return conv_backward_data_avx2(dy, w, geometry, plan, scratch, dx);
  backward_data_typed<float>(dy, w, geometry, plan, scratch, dx);
}

void conv_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeometry& geometry, const CpuConvPlan& plan,
                          std::vector<Tensor>& scratch, Tensor& dw) {
  if (x.dtype() == DType::f64) return backward_weight_typed<double>(x, dy, geometry, plan, scratch, dw);
  if (plan.avx2) return conv_backward_weight_avx2(x, dy, geometry, plan, scratch, dw);
  backward_weight_typed<float>(x, dy, geometry, plan, scratch, dw);
}

void conv_backward_bias(const Tensor& dy, const CpuConvPlan& plan, std::vector<Tensor>& scratch, Tensor& db) {
  if (dy.dtype() == DType::f64) return backward_bias_typed<double>(dy, plan, scratch, db);
  backward_bias_typed<float>(dy, plan, scratch, db);
}

void add_bias(Tensor& y, const Tensor& bias) {
  if (y.dtype() == DType::f64) return add_bias_typed<double>(y, bias);
  add_bias_typed<float>(y, bias);
}

}  // namespace nnuc::cpu
