// CUDA implementation of steps 4-10: the functions of intensity_cpu.cpp, one transform at a time over
// all the (sample, channel) volumes it touches.
//
// Launches take up to kGroup volumes at a time (blockIdx.y), each described by an Entry passed as a
// kernel argument, so no parameter table is copied to the device and nothing waits on the host. The
// statistics of steps 7, 9 and 10 stay on the device: per chunk of kIntensityStatisticsChunk voxels a
// block forms f64 partials (sum and sum of squares around the volume's first value, f32 min and max)
// in a fixed tree, one block per volume combines its chunks in a fixed order, and the transform's
// kernel reads the result. Products and sums that the CPU rounds one at a time are written with
// __fmul_rn / __fadd_rn here, so nvcc does not fuse them and the two devices round alike; what still
// differs is logf/cosf (noise), powf (gamma) and the summation order of the f64 statistics.
//
// Blur runs in place: a block reads a tile of whole lines along the blurred axis into shared memory
// (up to kTileFloats floats: a line of up to kMaxIntensityLength voxels fits), then writes the
// convolved lines back over them. Tiles are lines neighbouring in memory, so reads and writes are
// coalesced along every axis.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "data/augment/intensity.h"
#include "kernels/core/cuda_check.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/cuda_util.cuh"

namespace nnuc::augment::cuda {

namespace {

using nnuc::cuda::grid_for;
using nnuc::cuda::stream_of;

constexpr int kThreads = 256;
constexpr int kGroup = 16;
constexpr std::int64_t kTileFloats = kMaxIntensityLength;  // 32 KiB of shared memory
static_assert(kTileFloats * 4 <= 48 * 1024, "blur tiles must fit the default dynamic shared memory");

// One volume of a launch: sample b, channel c, and what the transform needs.
struct Entry {
  std::int64_t volume = 0;  // b * C + c
  std::uint32_t sample = 0, channel = 0;
  float value = 0;  // noise sigma, brightness multiplier, contrast factor or gamma exponent
  float sign = 1;   // gamma: -1 in step 9
  std::int32_t taps_size = 1;
  float taps[kMaxBlurTaps] = {};
  std::int64_t down[3] = {1, 1, 1};  // low resolution: the downsampled shape
  std::int64_t offset = 0;           // low resolution: into the buffer
};
struct Group {
  Entry entry[kGroup];
};

struct Geometry {
  std::int64_t dims[3];
  std::int64_t voxels;
};

// Launches `launch(group, count)` for consecutive groups of up to kGroup entries.
template <typename Launch>
void for_groups(const std::vector<Entry>& entries, Launch launch) {
  for (std::size_t first = 0; first < entries.size(); first += kGroup) {
    Group group{};
    const int count = static_cast<int>(std::min<std::size_t>(kGroup, entries.size() - first));
    for (int i = 0; i < count; ++i) group.entry[i] = entries[first + static_cast<std::size_t>(i)];
    launch(group, count);
  }
}

// Grid for `work` items per volume of `count` volumes.
dim3 grid_of(std::int64_t work, int count) {
  return dim3(std::min<unsigned>(grid_for(work, kThreads), 4096u), static_cast<unsigned>(count));
}

__device__ __forceinline__ std::int64_t thread_start() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t thread_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

// ---- step 4 ---------------------------------------------------------------------------------------

__global__ void __launch_bounds__(kThreads)
    noise_kernel(float* data, Geometry geometry, Group group, PhiloxKey key, std::uint32_t iteration) {
  const Entry& entry = group.entry[blockIdx.y];
  float* x = data + entry.volume * geometry.voxels;
  const std::int64_t pairs = (geometry.voxels + 1) / 2;
  for (std::int64_t pair = thread_start(); pair < pairs; pair += thread_stride()) {
    const NoisePair normals =
        intensity_noise_pair(key, iteration, entry.sample, entry.channel, static_cast<std::uint32_t>(pair));
    x[2 * pair] = __fadd_rn(x[2 * pair], __fmul_rn(entry.value, normals.even));
    if (2 * pair + 1 < geometry.voxels)
      x[2 * pair + 1] = __fadd_rn(x[2 * pair + 1], __fmul_rn(entry.value, normals.odd));
  }
}

// ---- step 5 ---------------------------------------------------------------------------------------

__device__ __forceinline__ std::int64_t reflected(std::int64_t i, std::int64_t length) {
  return i >= 0 && i < length ? i : intensity_reflect(i, length);
}

// The volume as (outer, length, inner). Contiguous (inner == 1): a block holds `tile_lines`
// consecutive lines; otherwise lines o, (first .. first + tile_lines) of inner positions.
template <bool Contiguous>
__global__ void __launch_bounds__(kThreads)
    blur_axis_kernel(float* data, std::int64_t voxels, std::int64_t outer, std::int64_t length, std::int64_t inner,
                     std::int64_t tile_lines, Group group) {
  extern __shared__ float tile[];
  const Entry& entry = group.entry[blockIdx.y];
  const int radius = (entry.taps_size - 1) / 2;
  float* base = data + entry.volume * voxels;
  std::int64_t width, count;  // lines side by side in the tile (strided case), elements in the tile
  if (Contiguous) {
    const std::int64_t first = static_cast<std::int64_t>(blockIdx.x) * tile_lines;
    base += first * length;
    width = 1;
    count = std::min(tile_lines, outer - first) * length;
  } else {
    const std::int64_t per_outer = (inner + tile_lines - 1) / tile_lines;
    const std::int64_t o = blockIdx.x / per_outer, first = (blockIdx.x % per_outer) * tile_lines;
    base += o * length * inner + first;
    width = std::min(tile_lines, inner - first);
    count = length * width;
  }
  // Element e of the tile: Contiguous, line e / length, position e % length, at base[e];
  // strided, position l = e / width of line t = e % width, at base[l * inner + t].
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x)
    tile[e] = Contiguous ? base[e] : base[(e / width) * inner + e % width];
  __syncthreads();
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const std::int64_t l = Contiguous ? e % length : e / width;
    const std::int64_t line_start = Contiguous ? e - l : e % width;  // tile index of position 0 of the line
    const std::int64_t step = Contiguous ? 1 : width;
    float sum = 0;
    for (int k = 0; k < entry.taps_size; ++k)
      sum = __fadd_rn(sum, __fmul_rn(entry.taps[k], tile[line_start + reflected(l + k - radius, length) * step]));
    if (Contiguous)
      base[e] = sum;
    else
      base[l * inner + e % width] = sum;
  }
}

// ---- step 6 ---------------------------------------------------------------------------------------

__global__ void __launch_bounds__(kThreads) brightness_kernel(float* data, Geometry geometry, Group group) {
  const Entry& entry = group.entry[blockIdx.y];
  float* x = data + entry.volume * geometry.voxels;
  for (std::int64_t v = thread_start(); v < geometry.voxels; v += thread_stride()) x[v] = __fmul_rn(x[v], entry.value);
}

// ---- statistics (steps 7, 9, 10) -----------------------------------------------------------------

struct Partial {
  double sum, squares;
  float low, high;
};

// Combines the block's partials in a fixed tree; the result is valid in thread 0.
__device__ Partial block_combine(Partial partial) {
  __shared__ double sums[kThreads], squares[kThreads];
  __shared__ float lows[kThreads], highs[kThreads];
  const int t = threadIdx.x;
  sums[t] = partial.sum;
  squares[t] = partial.squares;
  lows[t] = partial.low;
  highs[t] = partial.high;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) {
      sums[t] += sums[t + half];
      squares[t] += squares[t + half];
      lows[t] = fminf(lows[t], lows[t + half]);
      highs[t] = fmaxf(highs[t], highs[t + half]);
    }
    __syncthreads();
  }
  return Partial{sums[0], squares[0], lows[0], highs[0]};
}

// Partials of sign * x over chunk blockIdx.x, around the volume's first value: (sum, squares, min, max).
__global__ void __launch_bounds__(kThreads)
    partials_kernel(const float* data, Geometry geometry, Group group, std::int64_t chunks, double* partials) {
  const Entry& entry = group.entry[blockIdx.y];
  const float* x = data + entry.volume * geometry.voxels;
  const double shift = static_cast<double>(entry.sign * x[0]);
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * kIntensityStatisticsChunk;
  const std::int64_t end = std::min(geometry.voxels, begin + kIntensityStatisticsChunk);
  Partial partial{0, 0, INFINITY, -INFINITY};
  for (std::int64_t v = begin + threadIdx.x; v < end; v += blockDim.x) {
    const float value = entry.sign * x[v];
    const double deviation = static_cast<double>(value) - shift;
    partial.sum += deviation;
    partial.squares += deviation * deviation;
    partial.low = fminf(partial.low, value);
    partial.high = fmaxf(partial.high, value);
  }
  partial = block_combine(partial);
  if (threadIdx.x == 0) {
    double* out = partials + (entry.volume * chunks + blockIdx.x) * 4;
    out[0] = partial.sum;
    out[1] = partial.squares;
    out[2] = partial.low;
    out[3] = partial.high;
  }
}

// One block per volume: statistics[volume] = (mean, unbiased std, min, max) of sign * x.
__global__ void __launch_bounds__(kThreads)
    finish_kernel(const float* data, Geometry geometry, Group group, std::int64_t chunks, const double* partials,
                  double* statistics) {
  const Entry& entry = group.entry[blockIdx.x];
  Partial partial{0, 0, INFINITY, -INFINITY};
  for (std::int64_t chunk = threadIdx.x; chunk < chunks; chunk += blockDim.x) {
    const double* in = partials + (entry.volume * chunks + chunk) * 4;
    partial.sum += in[0];
    partial.squares += in[1];
    partial.low = fminf(partial.low, static_cast<float>(in[2]));
    partial.high = fmaxf(partial.high, static_cast<float>(in[3]));
  }
  partial = block_combine(partial);
  if (threadIdx.x == 0) {
    const double shift = static_cast<double>(entry.sign * data[entry.volume * geometry.voxels]);
    const double count = static_cast<double>(geometry.voxels);
    const double variance =
        geometry.voxels > 1 ? fmax(0.0, (partial.squares - partial.sum * partial.sum / count) / (count - 1)) : 0.0;
    double* out = statistics + entry.volume * 4;
    out[0] = shift + partial.sum / count;
    out[1] = sqrt(variance);
    out[2] = partial.low;
    out[3] = partial.high;
  }
}

// ---- step 7 ---------------------------------------------------------------------------------------

__global__ void __launch_bounds__(kThreads)
    contrast_kernel(float* data, Geometry geometry, Group group, const double* statistics) {
  const Entry& entry = group.entry[blockIdx.y];
  float* x = data + entry.volume * geometry.voxels;
  const double* stats = statistics + entry.volume * 4;
  const auto mean = static_cast<float>(stats[0]), low = static_cast<float>(stats[2]),
             high = static_cast<float>(stats[3]);
  for (std::int64_t v = thread_start(); v < geometry.voxels; v += thread_stride())
    x[v] = fminf(fmaxf(__fadd_rn(__fmul_rn(__fsub_rn(x[v], mean), entry.value), mean), low), high);
}

// ---- step 8 ---------------------------------------------------------------------------------------

__global__ void __launch_bounds__(kThreads)
    downsample_kernel(const float* data, Geometry geometry, Group group, float* buffer) {
  const Entry& entry = group.entry[blockIdx.y];
  const float* x = data + entry.volume * geometry.voxels;
  const std::int64_t* d = geometry.dims;
  const std::int64_t* down = entry.down;
  const std::int64_t total = down[0] * down[1] * down[2];
  for (std::int64_t index = thread_start(); index < total; index += thread_stride()) {
    const std::int64_t k = index % down[2], j = (index / down[2]) % down[1], i = index / (down[1] * down[2]);
    const std::int64_t source =
        (intensity_nearest_source(i, d[0], down[0]) * d[1] + intensity_nearest_source(j, d[1], down[1])) * d[2] +
        intensity_nearest_source(k, d[2], down[2]);
    buffer[entry.offset + index] = x[source];
  }
}

__global__ void __launch_bounds__(kThreads)
    upsample_kernel(float* data, Geometry geometry, Group group, const float* buffer) {
  const Entry& entry = group.entry[blockIdx.y];
  float* x = data + entry.volume * geometry.voxels;
  const std::int64_t* d = geometry.dims;
  const std::int64_t* down = entry.down;
  const float* low = buffer + entry.offset;
  for (std::int64_t index = thread_start(); index < geometry.voxels; index += thread_stride()) {
    const std::int64_t k = index % d[2], j = (index / d[2]) % d[1], i = index / (d[1] * d[2]);
    const LinearSource p = intensity_linear_source(i, down[0], d[0]);
    const LinearSource q = intensity_linear_source(j, down[1], d[1]);
    const LinearSource r = intensity_linear_source(k, down[2], d[2]);
    const auto at = [&](std::int64_t a, std::int64_t b, std::int64_t c) {
      return low[(a * down[1] + b) * down[2] + c];
    };
    const auto mix = [](float w1, float v0, float v1) {
      return __fadd_rn(__fmul_rn(1.0f - w1, v0), __fmul_rn(w1, v1));
    };
    const auto row = [&](std::int64_t a, std::int64_t b) { return mix(r.w1, at(a, b, r.i0), at(a, b, r.i1)); };
    const auto plane = [&](std::int64_t a) { return mix(q.w1, row(a, q.i0), row(a, q.i1)); };
    x[index] = mix(p.w1, plane(p.i0), plane(p.i1));
  }
}

// ---- steps 9, 10 ----------------------------------------------------------------------------------

// x <- ((sign x - min) / max(range, eps))^gamma range + min, with `before` = statistics of sign * x.
__global__ void __launch_bounds__(kThreads)
    gamma_power_kernel(float* data, Geometry geometry, Group group, const double* before) {
  const Entry& entry = group.entry[blockIdx.y];
  float* x = data + entry.volume * geometry.voxels;
  const double* stats = before + entry.volume * 4;
  const auto low = static_cast<float>(stats[2]);
  const float range = __fsub_rn(static_cast<float>(stats[3]), low);
  const float denominator = fmaxf(range, kGammaEpsilon);
  for (std::int64_t v = thread_start(); v < geometry.voxels; v += thread_stride()) {
    const float t = __fdiv_rn(__fsub_rn(entry.sign * x[v], low), denominator);
    x[v] = __fadd_rn(__fmul_rn(powf(t, entry.value), range), low);
  }
}

// x <- sign ((x - mean_after) std / max(std_after, eps) + mean).
__global__ void __launch_bounds__(kThreads)
    gamma_restore_kernel(float* data, Geometry geometry, Group group, const double* before, const double* after) {
  const Entry& entry = group.entry[blockIdx.y];
  float* x = data + entry.volume * geometry.voxels;
  const auto mean = static_cast<float>(before[entry.volume * 4]);
  const auto mean_after = static_cast<float>(after[entry.volume * 4]);
  const float factor = __fdiv_rn(static_cast<float>(before[entry.volume * 4 + 1]),
                                 fmaxf(static_cast<float>(after[entry.volume * 4 + 1]), kGammaEpsilon));
  for (std::int64_t v = thread_start(); v < geometry.voxels; v += thread_stride())
    x[v] = entry.sign * __fadd_rn(__fmul_rn(__fsub_rn(x[v], mean_after), factor), mean);
}

}  // namespace

void apply_intensity(const Context& ctx, Tensor& data, const std::vector<IntensityParams>& params, PhiloxKey noise_key,
                     std::uint32_t iteration, Tensor& low_resolution, Tensor& statistics) {
  NNUC_RANGE("apply_intensity");
  const Shape& shape = data.shape();  // (B, C, X, Y, Z)
  const std::int64_t channels = shape[1], volumes = shape[0] * shape[1];
  const Geometry geometry{{shape[2], shape[3], shape[4]}, shape[2] * shape[3] * shape[4]};
  const cudaStream_t stream = stream_of(ctx);
  float* x = data.data<float>();

  // The entries of the volumes whose sample and channel satisfy `select`, which fills the rest.
  const auto entries_where = [&](const auto& select) {
    std::vector<Entry> entries;
    for (std::int64_t volume = 0; volume < volumes; ++volume) {
      Entry entry;
      entry.volume = volume;
      entry.sample = static_cast<std::uint32_t>(volume / channels);
      entry.channel = static_cast<std::uint32_t>(volume % channels);
      const IntensityParams& sample = params[entry.sample];
      if (select(sample, static_cast<int>(entry.channel), sample.channels[entry.channel], entry))
        entries.push_back(entry);
    }
    return entries;
  };

  // Step 4.
  for_groups(entries_where([](const IntensityParams& s, int, const IntensityChannel&, Entry& e) {
               e.value = s.noise_sigma;
               return s.noise;
             }),
             [&](const Group& group, int count) {
               noise_kernel<<<grid_of((geometry.voxels + 1) / 2, count), kThreads, 0, stream>>>(x, geometry, group,
                                                                                                noise_key, iteration);
               CUDA_CHECK_LAUNCH();
             });

  // Step 5, axis 0 then 1 then 2.
  for (int axis = 0; axis < 3; ++axis) {
    const std::int64_t length = geometry.dims[axis];
    if (length == 1) continue;  // blurring a single voxel is the identity
    const std::int64_t outer = axis == 0 ? 1 : (axis == 1 ? geometry.dims[0] : geometry.dims[0] * geometry.dims[1]);
    const std::int64_t inner = axis == 2 ? 1 : (axis == 1 ? geometry.dims[2] : geometry.dims[1] * geometry.dims[2]);
    const std::int64_t most_lines = std::max<std::int64_t>(1, kTileFloats / length);
    const std::int64_t tile_lines =
        inner == 1 ? std::min(outer, most_lines) : std::min({inner, most_lines, std::int64_t{32}});
    const std::int64_t tiles =
        inner == 1 ? (outer + tile_lines - 1) / tile_lines : outer * ((inner + tile_lines - 1) / tile_lines);
    const std::size_t shared = static_cast<std::size_t>(tile_lines * length) * sizeof(float);
    for_groups(entries_where([axis](const IntensityParams& s, int c, const IntensityChannel& channel, Entry& e) {
                 const BlurKernel kernel = blur_kernel(channel.blur_sigma[static_cast<std::size_t>(axis)]);
                 e.taps_size = kernel.size;
                 std::copy(kernel.taps, kernel.taps + kMaxBlurTaps, e.taps);
                 return s.blurs(c) && kernel.size > 1;
               }),
               [&](const Group& group, int count) {
                 const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(count));
                 if (inner == 1)
                   blur_axis_kernel<true><<<grid, kThreads, shared, stream>>>(x, geometry.voxels, outer, length, inner,
                                                                              tile_lines, group);
                 else
                   blur_axis_kernel<false><<<grid, kThreads, shared, stream>>>(x, geometry.voxels, outer, length, inner,
                                                                               tile_lines, group);
                 CUDA_CHECK_LAUNCH();
               });
  }

  // Step 6.
  for_groups(entries_where([](const IntensityParams& s, int, const IntensityChannel& channel, Entry& e) {
               e.value = channel.brightness;
               return s.brightness;
             }),
             [&](const Group& group, int count) {
               brightness_kernel<<<grid_of(geometry.voxels, count), kThreads, 0, stream>>>(x, geometry, group);
               CUDA_CHECK_LAUNCH();
             });

  // Statistics of sign * x into `out` for the volumes of a group.
  const std::int64_t chunks = (geometry.voxels + kIntensityStatisticsChunk - 1) / kIntensityStatisticsChunk;
  double* partials = statistics.defined() ? statistics.data<double>() : nullptr;  // (volumes, chunks, 4)
  double* before = partials ? partials + volumes * chunks * 4 : nullptr;          // (volumes, 4)
  double* after = partials ? before + volumes * 4 : nullptr;                      // (volumes, 4)
  const auto measure = [&](const Group& group, int count, double* out) {
    partials_kernel<<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(count)), kThreads, 0, stream>>>(
        x, geometry, group, chunks, partials);
    CUDA_CHECK_LAUNCH();
    finish_kernel<<<static_cast<unsigned>(count), kThreads, 0, stream>>>(x, geometry, group, chunks, partials, out);
    CUDA_CHECK_LAUNCH();
  };

  // Step 7.
  for_groups(entries_where([](const IntensityParams& s, int, const IntensityChannel& channel, Entry& e) {
               e.value = channel.contrast;
               return s.contrast;
             }),
             [&](const Group& group, int count) {
               measure(group, count, before);
               contrast_kernel<<<grid_of(geometry.voxels, count), kThreads, 0, stream>>>(x, geometry, group, before);
               CUDA_CHECK_LAUNCH();
             });

  // Step 8.
  const LowResolutionLayout layout = low_resolution_layout(shape, params);
  float* buffer = layout.total > 0 ? low_resolution.data<float>() : nullptr;
  for_groups(entries_where([&](const IntensityParams& s, int c, const IntensityChannel& channel, Entry& e) {
               for (int a = 0; a < 3; ++a)
                 e.down[a] = intensity_low_resolution_size(geometry.dims[a], channel.zoom[static_cast<std::size_t>(a)]);
               e.offset = layout.offsets[static_cast<std::size_t>(e.volume)];
               return s.resamples(c);
             }),
             [&](const Group& group, int count) {
               downsample_kernel<<<grid_of(geometry.voxels, count), kThreads, 0, stream>>>(x, geometry, group, buffer);
               CUDA_CHECK_LAUNCH();
               upsample_kernel<<<grid_of(geometry.voxels, count), kThreads, 0, stream>>>(x, geometry, group, buffer);
               CUDA_CHECK_LAUNCH();
             });

  // Steps 9 and 10.
  for (const bool inverted : {true, false}) {
    for_groups(entries_where([inverted](const IntensityParams& s, int, const IntensityChannel& channel, Entry& e) {
                 e.value = inverted ? channel.inverted_gamma : channel.gamma;
                 e.sign = inverted ? -1.0f : 1.0f;
                 return inverted ? s.inverted_gamma : s.gamma;
               }),
               [&](const Group& group, int count) {
                 measure(group, count, before);
                 gamma_power_kernel<<<grid_of(geometry.voxels, count), kThreads, 0, stream>>>(x, geometry, group,
                                                                                              before);
                 CUDA_CHECK_LAUNCH();
                 Group unsigned_group = group;  // the powered values are measured as they are
                 for (int i = 0; i < count; ++i) unsigned_group.entry[i].sign = 1.0f;
                 measure(unsigned_group, count, after);
                 gamma_restore_kernel<<<grid_of(geometry.voxels, count), kThreads, 0, stream>>>(x, geometry, group,
                                                                                                before, after);
                 CUDA_CHECK_LAUNCH();
               });
  }
}

}  // namespace nnuc::augment::cuda
