// CPU convolution internals: gather tables, backward-data phases, and the scratch plan of each pass.
#include "kernels/conv/conv_cpu_gather.h"

#include <omp.h>

#include <algorithm>

#include "kernels/conv/conv_gemm.h"

namespace nnuc::cpu {

// im2col of conv(x): rows are output voxels, taps the kernel offsets, source x.
Gather forward_gather(const Shape& x, const Shape& y, const ConvGeometry& geometry) {
  Gather gather;
  gather.channels = x[Activation::C];
  for (int axis = 0; axis < 3; ++axis) {
    const std::size_t a = static_cast<std::size_t>(axis);
    AxisGather& table = gather.axes[a];
    const int in = static_cast<int>(x[1 + axis]);
    table.rows = static_cast<int>(y[1 + axis]);
    table.taps = geometry.kernel[a];
    table.source.resize(static_cast<std::size_t>(table.rows) * static_cast<std::size_t>(table.taps));
    for (int o = 0; o < table.rows; ++o)
      for (int k = 0; k < table.taps; ++k) {
        const int i = o * geometry.stride[a] - geometry.padding[a] + k;
        table.source[static_cast<std::size_t>(o * table.taps + k)] = (i >= 0 && i < in) ? i : -1;
      }
    gather.source_extent[a] = in;
  }
  return gather;
}

// True when the gather reads each source row in place (one tap, row q reads source q, same extents).
bool gather_is_identity(const Gather& gather) {
  for (std::size_t a = 0; a < 3; ++a) {
    const AxisGather& table = gather.axes[a];
    if (table.taps != 1 || table.rows != gather.source_extent[a]) return false;
    for (int q = 0; q < table.rows; ++q)
      if (table.source[static_cast<std::size_t>(q)] != q) return false;
  }
  return true;
}

PhaseAxis phase_axis(int residue, int in, int out, int kernel, int stride, int padding) {
  PhaseAxis phase;
  phase.residue = residue;
  // Taps in descending k, so that the outputs o they read ascend (the gather walks memory forward).
  for (int k = kernel - 1; k >= 0; --k)
    if (((residue + padding - k) % stride + stride) % stride == 0) phase.taps.push_back(k);
  phase.gather.rows = residue < in ? (in - residue + stride - 1) / stride : 0;
  phase.gather.taps = static_cast<int>(phase.taps.size());
  phase.gather.source.resize(static_cast<std::size_t>(phase.gather.rows) * phase.taps.size());
  for (int j = 0; j < phase.gather.rows; ++j)
    for (std::size_t t = 0; t < phase.taps.size(); ++t) {
      const int o = j + (residue + padding - phase.taps[t]) / stride;  // exact division
      phase.gather.source[static_cast<std::size_t>(j) * phase.taps.size() + t] = (o >= 0 && o < out) ? o : -1;
    }
  return phase;
}

// All phases of one axis (residues 0 .. s - 1).
std::vector<PhaseAxis> phases_of_axis(int in, int out, int kernel, int stride, int padding) {
  std::vector<PhaseAxis> phases;
  for (int residue = 0; residue < stride; ++residue)
    phases.push_back(phase_axis(residue, in, out, kernel, stride, padding));
  return phases;
}

std::vector<Phase> backward_data_phases(const Shape& x, const Shape& dy, const ConvGeometry& geometry) {
  std::array<std::vector<PhaseAxis>, 3> per_axis;
  for (int axis = 0; axis < 3; ++axis) {
    const std::size_t a = static_cast<std::size_t>(axis);
    per_axis[a] = phases_of_axis(static_cast<int>(x[1 + axis]), static_cast<int>(dy[1 + axis]), geometry.kernel[a],
                                 geometry.stride[a], geometry.padding[a]);
  }
  std::vector<Phase> phases;
  std::int64_t weight_offset = 0;
  for (const PhaseAxis& p0 : per_axis[0])
    for (const PhaseAxis& p1 : per_axis[1])
      for (const PhaseAxis& p2 : per_axis[2]) {
        Phase phase;
        phase.gather.axes = {p0.gather, p1.gather, p2.gather};
        phase.gather.source_extent = {dy[1], dy[2], dy[3]};
        phase.gather.channels = dy[Activation::C];
        phase.residue = {p0.residue, p1.residue, p2.residue};
        phase.taps = {p0.taps, p1.taps, p2.taps};
        phase.weight_offset = weight_offset;
        weight_offset += phase.gather.taps() * dy[Activation::C];
        phases.push_back(std::move(phase));
      }
  return phases;
}

PhaseSummary summarize_phases(const std::vector<Phase>& phases, std::int64_t batch) {
  PhaseSummary summary;
  for (const Phase& phase : phases) {
    summary.max_taps = std::max(summary.max_taps, phase.gather.taps());
    summary.max_rows = std::max(summary.max_rows, batch * phase.gather.rows_per_sample());
    if (phase.gather.rows_per_sample() > 0 && !gather_is_identity(phase.gather)) summary.in_place = false;
  }
  return summary;
}

std::vector<PhaseTask> phase_tasks(const std::vector<Phase>& phases, std::int64_t batch, std::int64_t tile_rows) {
  std::vector<PhaseTask> tasks;
  for (std::size_t p = 0; p < phases.size(); ++p) {
    const std::int64_t rows = batch * phases[p].gather.rows_per_sample();
    for (std::int64_t first = 0; first < rows; first += tile_rows)
      tasks.push_back({p, first, std::min(tile_rows, rows - first)});
  }
  return tasks;
}

BackwardDataWork backward_data_work(const Shape& x, const Shape& dy, const ConvGeometry& geometry,
                                    std::int64_t tile_rows) {
  BackwardDataWork work;
  work.phases = backward_data_phases(x, dy, geometry);
  const PhaseSummary summary = summarize_phases(work.phases, dy[Activation::N]);
  work.max_taps = summary.max_taps;
  work.in_place = summary.in_place;
  work.rows_in_place = unit_stride(geometry);
  work.tasks = phase_tasks(work.phases, dy[Activation::N], tile_rows);
  return work;
}

std::vector<std::int64_t> phase_tap_offsets(const Phase& phase, const ConvGeometry& geometry) {
  std::vector<std::int64_t> offsets;
  for (int t0 : phase.taps[0])
    for (int t1 : phase.taps[1])
      for (int t2 : phase.taps[2])
        offsets.push_back((static_cast<std::int64_t>(t0) * geometry.kernel[1] + t1) * geometry.kernel[2] + t2);
  return offsets;
}

}  // namespace nnuc::cpu

namespace nnuc::conv_detail {
namespace {

// Voxels per tile. A tile's im2col rows (T x K) are written by the gather and read by the GEMM, which
// does 2 N FLOPs per element (N = output channels of the GEMM). They should stay in L2 when N is small
// (32: 64 FLOPs per 8 bytes written and read back is too little work to stream through L3), and may
// spill further as N grows, when the weight (K x N, re-read once per tile) matters more: the tile
// targets kL2TileBytes x N / 32 bytes, twice that from N = 128. For 3x3x3 convolutions with Ci = Co
// that is ~75 rows up to 64 channels and ~150 from 128 (measured on the Zen 3 development machine,
// one thread: s0 75 rows 10 % faster than 150; s2 and s4 150 rows 5-15 % faster than 75, 300 or 600).
// Tiles are of equal size and their number a multiple of the thread count, so every thread gets the
// same work.
constexpr std::int64_t kL2TileBytes = 256 << 10;
constexpr std::int64_t kMinTileRows = 48;
constexpr std::int64_t kMaxTileRows = 4096;

std::int64_t tile_rows(std::int64_t rows, std::int64_t row_length, std::int64_t gemm_columns, DType dtype, int threads,
                       std::int64_t min_rows = 1) {
  const std::int64_t row_bytes = std::max<std::int64_t>(row_length, 1) * static_cast<std::int64_t>(dtype_size(dtype));
  const std::int64_t wide = gemm_columns >= 128 ? 2 : 1;
  std::int64_t target = kL2TileBytes * std::max<std::int64_t>(gemm_columns, 32) / 32 * wide / row_bytes;
  target = std::max(std::clamp(target, kMinTileRows, kMaxTileRows), min_rows);
  std::int64_t tiles = (rows + target - 1) / target;
  tiles = (tiles + threads - 1) / threads * threads;
  return std::max<std::int64_t>(1, (rows + tiles - 1) / tiles);
}

}  // namespace

int cpu_threads() { return std::max(1, omp_get_max_threads()); }

CpuConvPlan cpu_conv_plan(ConvPass pass, const Shape& x, const Shape& w, const ConvGeometry& geometry, DType dtype,
                          int threads) {
  using cpu::Gather;
  CpuConvPlan plan;
  plan.threads = std::max(1, threads);
  const Shape y = conv_output_shape(x, w, geometry);
  const std::int64_t ci = x[Activation::C];
  const std::int64_t co = w[0];
  const std::int64_t kvol = static_cast<std::int64_t>(geometry.kernel[0]) * geometry.kernel[1] * geometry.kernel[2];
  const std::int64_t out_rows = y.numel() / co;
  const std::int64_t threads64 = plan.threads;
  plan.avx2 = dtype == DType::f32 && cpu::has_avx2_fma();
  switch (pass) {
    case ConvPass::forward:
    case ConvPass::backward_weight: {
      const bool in_place = cpu::gather_is_identity(cpu::forward_gather(x, y, geometry));
      // The packed GEMM's backward weight reads and writes its partial dw once per 256 rows: when that
      // does not fit L2, tiles of >= 256 rows.
      const bool large_partial = kvol * ci * co * static_cast<std::int64_t>(dtype_size(dtype)) > kL2TileBytes;
      const std::int64_t min_rows = plan.avx2 && pass == ConvPass::backward_weight && large_partial ? 256 : 1;
      plan.tile_rows = tile_rows(out_rows, kvol * ci, co, dtype, plan.threads, min_rows);
      if (!in_place) plan.buffers.push_back({threads64 * plan.tile_rows * kvol * ci, dtype});
      if (plan.avx2) {
        if (pass == ConvPass::forward) plan.buffers.push_back({cpu::packed_b_elements(kvol * ci, co), dtype});
        if (pass == ConvPass::backward_weight) plan.buffers.push_back({threads64 * kvol * ci * co, dtype});
      } else if (pass == ConvPass::backward_weight && plan.threads > 1) {
        plan.buffers.push_back({(threads64 - 1) * co * kvol * ci, dtype});
      }
      break;
    }
    case ConvPass::backward_data: {
      const std::vector<cpu::Phase> phases = cpu::backward_data_phases(x, y, geometry);
      const cpu::PhaseSummary summary = cpu::summarize_phases(phases, x[0]);
      const std::int64_t max_taps = summary.max_taps;
      plan.tile_rows = tile_rows(summary.max_rows, std::max<std::int64_t>(max_taps, 1) * co, ci, dtype, plan.threads);
      if (!summary.in_place) plan.buffers.push_back({threads64 * plan.tile_rows * max_taps * co, dtype});
      if (!cpu::unit_stride(geometry)) plan.buffers.push_back({threads64 * plan.tile_rows * ci, dtype});
      if (plan.avx2) {
        std::int64_t packed = 0;
        for (const cpu::Phase& phase : phases) packed += cpu::packed_b_elements(phase.gather.taps() * co, ci);
        plan.buffers.push_back({packed, dtype});
      } else if (max_taps > 1) {
        plan.buffers.push_back({kvol * co * ci, dtype});
      }
      break;
    }
    case ConvPass::backward_bias: return cpu_bias_grad_plan(y, plan.threads);
  }
  return plan;
}

CpuConvPlan cpu_bias_grad_plan(const Shape& dy, int threads) {
  CpuConvPlan plan;
  plan.threads = std::max(1, threads);
  plan.tile_rows = dy.numel() / std::max<std::int64_t>(dy[Activation::C], 1);
  plan.buffers.push_back({static_cast<std::int64_t>(plan.threads) * dy[Activation::C], DType::f64});
  return plan;
}

}  // namespace nnuc::conv_detail
