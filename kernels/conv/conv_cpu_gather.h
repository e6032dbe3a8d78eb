// CPU convolution internals: the row gathers (im2col and its backward-data phases) shared by the
// Eigen implementation (conv_cpu.cpp), the AVX2 one (conv_cpu_avx2.cpp) and the scratch plan.
// Not a public header.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/conv/conv.h"
#include "kernels/conv/conv_internal.h"

namespace nnuc::cpu {

// Along one axis: for each row coordinate q in [0, rows) and tap t in [0, taps), the source index
// along that axis, or -1 where the tap reads zero padding.
struct AxisGather {
  int rows = 0;
  int taps = 0;
  std::vector<int> source;  // rows * taps
};

// Rows of a gathered matrix are voxels (n, q0, q1, q2) of a row space (N, rows0, rows1, rows2); a row
// holds, for each tap (t0, t1, t2), the C channel values of source voxel
// (n, source0[q0][t0], source1[q1][t1], source2[q2][t2]) of a (N, S0, S1, S2, C) tensor.
struct Gather {
  std::array<AxisGather, 3> axes;
  std::array<std::int64_t, 3> source_extent{};
  std::int64_t channels = 0;

  std::int64_t taps() const { return static_cast<std::int64_t>(axes[0].taps) * axes[1].taps * axes[2].taps; }
  std::int64_t row_length() const { return taps() * channels; }
  std::int64_t rows_per_sample() const { return static_cast<std::int64_t>(axes[0].rows) * axes[1].rows * axes[2].rows; }
};

// One stride phase of backward data along one axis: input indices i = r + j s, j in [0, rows), with
// the taps k = (r + p) mod s (mod s) and, per tap, output o = j + (r + p - k) / s.
struct PhaseAxis {
  int residue = 0;
  std::vector<int> taps;  // kernel offsets k, descending
  AxisGather gather;
};

struct Phase {
  Gather gather;  // over dy, rows = the phase's input voxels
  std::array<int, 3> residue{};
  std::array<std::vector<int>, 3> taps;
  std::int64_t weight_offset = 0;  // first row of this phase in the phase-ordered weight
};

// im2col of conv(x): rows are output voxels (N, Do, Ho, Wo), taps the kernel offsets, source x.
Gather forward_gather(const Shape& x, const Shape& y, const ConvGeometry& geometry);

// True when the gather reads each source row in place (one tap, row q reads source q, same extents).
bool gather_is_identity(const Gather& gather);

// The stride phases of backward data: input voxels grouped by (i mod s) per axis, each with its live
// taps and a gather over dy. weight_offset counts rows of (tap, co) before the phase.
std::vector<Phase> backward_data_phases(const Shape& x, const Shape& dy, const ConvGeometry& geometry);

// What the backward-data buffers depend on: the most taps of any phase, the most rows (over the batch)
// of any phase, and whether every non-empty phase reads dy in place (kernel == stride, no padding).
struct PhaseSummary {
  std::int64_t max_taps = 0;
  std::int64_t max_rows = 0;
  bool in_place = true;
};
PhaseSummary summarize_phases(const std::vector<Phase>& phases, std::int64_t batch);

// True when every stride is 1 (backward data then writes dx rows in place, no scatter).
inline bool unit_stride(const ConvGeometry& geometry) {
  return geometry.stride[0] == 1 && geometry.stride[1] == 1 && geometry.stride[2] == 1;
}

// One tile of backward-data work: rows [first, first + count) of a phase's row space.
struct PhaseTask {
  std::size_t phase;
  std::int64_t first;
  std::int64_t count;
};
std::vector<PhaseTask> phase_tasks(const std::vector<Phase>& phases, std::int64_t batch, std::int64_t tile_rows);

// The flat kernel offset (t0 kH + t1) kW + t2 of every live tap of a phase, in gather order.
std::vector<std::int64_t> phase_tap_offsets(const Phase& phase, const ConvGeometry& geometry);

// Copies `bytes` (a channel run: tens to a few thousand bytes) in inlined 32-byte steps; a libc memcpy
// call per run costs as much as the copy for the common 32-channel runs.
// The tail below 32 bytes goes in fixed 16/8/4/2/1-byte pieces for the same reason: the runs of
// networks with 1-8 channels (4-32 bytes) are all tail.
inline void copy_run(void* out, const void* in, std::size_t bytes) {
  char* to = static_cast<char*>(out);
  const char* from = static_cast<const char*>(in);
  for (; bytes >= 32; bytes -= 32, to += 32, from += 32) __builtin_memcpy(to, from, 32);
  for (std::size_t piece = 16; piece > 0; piece /= 2)
    if (bytes >= piece) {
      __builtin_memcpy(to, from, piece);
      to += piece, from += piece, bytes -= piece;
    }
}

inline void zero_run(void* out, std::size_t bytes) {
  char* to = static_cast<char*>(out);
  for (; bytes >= 32; bytes -= 32, to += 32) __builtin_memset(to, 0, 32);
  for (std::size_t piece = 16; piece > 0; piece /= 2)
    if (bytes >= piece) {
      __builtin_memset(to, 0, piece);
      to += piece, bytes -= piece;
    }
}

// Copies tile rows (count, C) of a phase to their input voxels in dx (N, D, H, W, C).
template <typename T>
void scatter_phase_rows(const Phase& phase, const std::array<int, 3>& stride, std::int64_t first, std::int64_t count,
                        const T* tile, T* dx, const Shape& x_shape) {
  const std::int64_t channels = x_shape[Activation::C];
  const AxisGather& a0 = phase.gather.axes[0];
  const AxisGather& a1 = phase.gather.axes[1];
  const AxisGather& a2 = phase.gather.axes[2];
  for (std::int64_t row = first; row < first + count; ++row) {
    std::int64_t rest = row;
    const std::int64_t j2 = rest % a2.rows;
    rest /= a2.rows;
    const std::int64_t j1 = rest % a1.rows;
    rest /= a1.rows;
    const std::int64_t j0 = rest % a0.rows;
    const std::int64_t n = rest / a0.rows;
    const std::int64_t i0 = phase.residue[0] + j0 * stride[0];
    const std::int64_t i1 = phase.residue[1] + j1 * stride[1];
    const std::int64_t i2 = phase.residue[2] + j2 * stride[2];
    copy_run(dx + (((n * x_shape[1] + i0) * x_shape[2] + i1) * x_shape[3] + i2) * channels,
             tile + (row - first) * channels, static_cast<std::size_t>(channels) * sizeof(T));
  }
}

// Copies rows [first, first + count) of the gathered matrix into out (count, row_length).
template <typename T>
void gather_rows(const T* source, const Gather& gather, std::int64_t first, std::int64_t count, T* out) {
  const std::int64_t channels = gather.channels;
  const AxisGather& a0 = gather.axes[0];
  const AxisGather& a1 = gather.axes[1];
  const AxisGather& a2 = gather.axes[2];
  const std::int64_t s0 = gather.source_extent[0], s1 = gather.source_extent[1], s2 = gather.source_extent[2];
  const std::size_t run_bytes = static_cast<std::size_t>(channels) * sizeof(T);
  if (count <= 0) return;
  // The row's voxel (n, q0, q1, q2), decoded once and then stepped (a division per row costs as much
  // as a narrow row's copies).
  std::int64_t rest = first;
  int q2 = static_cast<int>(rest % a2.rows);
  rest /= a2.rows;
  int q1 = static_cast<int>(rest % a1.rows);
  rest /= a1.rows;
  int q0 = static_cast<int>(rest % a0.rows);
  std::int64_t n = rest / a0.rows;
  for (std::int64_t row = 0; row < count; ++row) {
    if (row > 0 && ++q2 == a2.rows) {
      q2 = 0;
      if (++q1 == a1.rows) {
        q1 = 0;
        if (++q0 == a0.rows) q0 = 0, ++n;
      }
    }
    // Along the last axis the taps of this row read consecutive source voxels unless padding cuts them.
    const int* sources2 = a2.source.data() + static_cast<std::ptrdiff_t>(q2) * a2.taps;
    const int first2 = a2.taps > 0 ? sources2[0] : -1;
    bool contiguous2 = first2 >= 0;
    for (int t2 = 1; t2 < a2.taps && contiguous2; ++t2) contiguous2 = sources2[t2] == first2 + t2;
    for (int t0 = 0; t0 < a0.taps; ++t0) {
      const int i0 = a0.source[static_cast<std::size_t>(q0 * a0.taps + t0)];
      if (i0 < 0) {
        std::memset(out, 0, run_bytes * static_cast<std::size_t>(a1.taps * a2.taps));
        out += static_cast<std::int64_t>(a1.taps) * a2.taps * channels;
        continue;
      }
      for (int t1 = 0; t1 < a1.taps; ++t1) {
        const int i1 = a1.source[static_cast<std::size_t>(q1 * a1.taps + t1)];
        if (i1 < 0) {
          std::memset(out, 0, run_bytes * static_cast<std::size_t>(a2.taps));
          out += static_cast<std::int64_t>(a2.taps) * channels;
          continue;
        }
        const T* line = source + ((n * s0 + i0) * s1 + i1) * s2 * channels;
        if (contiguous2) {  // the row's taps along the last axis read one run of taps * channels values
          copy_run(out, line + static_cast<std::int64_t>(first2) * channels,
                   run_bytes * static_cast<std::size_t>(a2.taps));
          out += static_cast<std::int64_t>(a2.taps) * channels;
          continue;
        }
        for (int t2 = 0; t2 < a2.taps; ++t2) {
          const int i2 = sources2[t2];
          if (i2 < 0) {
            zero_run(out, run_bytes);
          } else {
            copy_run(out, line + static_cast<std::int64_t>(i2) * channels, run_bytes);
          }
          out += channels;
        }
      }
    }
  }
}

// The forward pass's tile loop: for each tile of `tile` output rows (OpenMP, `threads` threads, dynamic
// schedule), body(first, count, lhs) with lhs the tile's im2col rows (row_length() values each): x
// itself when the gather is the identity, else gathered into this thread's slice of col_base
// (threads * tile * row_length() elements).
template <typename T, typename Body>
void for_each_gathered_tile(const T* x, const Gather& gather, std::int64_t rows, std::int64_t tile, int threads,
                            T* col_base, Body body) {
  const bool in_place = gather_is_identity(gather);
  const std::int64_t k = gather.row_length();
  const std::int64_t tiles = (rows + tile - 1) / tile;
#pragma omp parallel num_threads(threads)
  {
    T* col = in_place ? nullptr : col_base + static_cast<std::int64_t>(omp_get_thread_num()) * tile * k;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t index = 0; index < tiles; ++index) {
      const std::int64_t first = index * tile;
      const std::int64_t count = std::min(tile, rows - first);
      const T* lhs = x + first * k;
      if (!in_place) {
        gather_rows(x, gather, first, count, col);
        lhs = col;
      }
      body(first, count, lhs);
    }
  }
}

// What both backward-data implementations derive from the geometry: the stride phases, the tasks
// (phase, tile of rows), and whether dy is read in place (no gather) and dx written in place (no
// scatter, unit stride).
struct BackwardDataWork {
  std::vector<Phase> phases;
  std::vector<PhaseTask> tasks;
  std::int64_t max_taps = 0;
  bool in_place = true;       // every non-empty phase reads dy rows in place
  bool rows_in_place = true;  // dx rows are written directly
};
BackwardDataWork backward_data_work(const Shape& x, const Shape& dy, const ConvGeometry& geometry,
                                    std::int64_t tile_rows);

// The backward-data pass's task loop (OpenMP, `threads` threads, dynamic schedule): for each task,
// gemm(task, phase, lhs, k, result) computes result (count, Ci) = lhs (count, k) . w_phase with
// lhs the task's dy-col rows (k = taps * Co values each: dy itself when read in place, else gathered
// into this thread's slice of dycol_base, threads * tile * max_taps * Co elements) and result the dx
// rows (dx itself at unit stride, else this thread's slice of tile_base, threads * tile * Ci elements,
// scattered into dx afterwards). A phase without taps writes zeros and does not call gemm.
template <typename T, typename Gemm>
void for_each_phase_tile(const BackwardDataWork& work, const T* dy, std::int64_t co, T* dx, const Shape& x_shape,
                         const ConvGeometry& geometry, std::int64_t tile, int threads, T* dycol_base, T* tile_base,
                         Gemm gemm) {
  const std::int64_t ci = x_shape[Activation::C];
#pragma omp parallel num_threads(threads)
  {
    const int thread = omp_get_thread_num();
    T* dycol = work.in_place ? nullptr : dycol_base + static_cast<std::int64_t>(thread) * tile * work.max_taps * co;
    T* dx_tile = work.rows_in_place ? nullptr : tile_base + static_cast<std::int64_t>(thread) * tile * ci;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t index = 0; index < static_cast<std::int64_t>(work.tasks.size()); ++index) {
      const PhaseTask& task = work.tasks[static_cast<std::size_t>(index)];
      const Phase& phase = work.phases[task.phase];
      const std::int64_t k = phase.gather.taps() * co;
      T* result = work.rows_in_place ? dx + task.first * ci : dx_tile;
      if (k == 0) {
        std::fill(result, result + task.count * ci, T(0));
      } else {
        const T* lhs = dy + task.first * co;
        if (!work.in_place) {
          gather_rows(dy, phase.gather, task.first, task.count, dycol);
          lhs = dycol;
        }
        gemm(task, phase, lhs, k, result);
      }
      if (!work.rows_in_place) scatter_phase_rows(phase, geometry.stride, task.first, task.count, dx_tile, dx, x_shape);
    }
  }
}

// Unit-stride convolutions with padding (k - 1) / 2 (nnU-Net's) whose output has at most this many
// channels, on lines of at least this many voxels, run forward and backward data without im2col on
// AVX-512 CPUs (conv_cpu_avx2.cpp, direct_same_conv); they use the same scratch as the im2col path.
inline constexpr std::int64_t kDirectConvMaxChannels = 64;
inline constexpr std::int64_t kDirectConvMinWidth = 8;
// Whether a pass whose input is `src` (N, D, H, W, Cs) and output has `dst_channels` takes that path.
bool direct_conv_applies(const Shape& src, std::int64_t dst_channels, const ConvGeometry& geometry,
                         const CpuConvPlan& plan);

// The f32 AVX2 + FMA implementations (conv_cpu_avx2.cpp), used when plan.avx2 is set.
void conv_forward_avx2(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& geometry,
                       const CpuConvPlan& plan, std::vector<Tensor>& scratch, Tensor& y);
void conv_backward_data_avx2(const Tensor& dy, const Tensor& w, const ConvGeometry& geometry, const CpuConvPlan& plan,
                             std::vector<Tensor>& scratch, Tensor& dx);
void conv_backward_weight_avx2(const Tensor& x, const Tensor& dy, const ConvGeometry& geometry, const CpuConvPlan& plan,
                               std::vector<Tensor>& scratch, Tensor& dw);

}  // namespace nnuc::cpu
