#include "nn/predict/sliding_window.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <string>

#include "autograd/tape.h"
#include "kernels/core/allocator.h"
#include "kernels/core/nvtx.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/reduce.h"
#include "kernels/window/window.h"

namespace nnuc::nn {

namespace {

using autograd::NoGradGuard;

// v >= 0 rounded to the nearest fp16 value (ties to even), returned exactly as a double.
double round_to_f16(double v) {
  if (v == 0) return 0;
  int exponent = 0;
  std::frexp(v, &exponent);                                       // v in [2^(exponent - 1), 2^exponent)
  const int quantum_exponent = std::max(exponent - 1, -14) - 10;  // fp16: 10 fraction bits, subnormal below 2^-14
  return std::ldexp(std::nearbyint(std::ldexp(v, -quantum_exponent)), quantum_exponent);
}

// The flip-mask bit of a mirror axis (nnU-Net's axis of the patch's spatial dims).
unsigned flip_bit(int axis, bool is_2d) { return 1u << (is_2d ? axis + 1 : axis); }

// Mirrorings in nnU-Net's order: none, then itertools.combinations(axes, r) for r = 1 .. |axes|.
std::vector<unsigned> mirror_variants(const SlidingWindowOptions& options) {
  std::vector<unsigned> variants{0};
  if (!options.use_mirroring) return variants;
  const std::vector<int>& axes = options.mirror_axes;
  const int m = static_cast<int>(axes.size());
  for (int r = 1; r <= m; ++r) {
    std::vector<int> chosen(static_cast<std::size_t>(r));
    for (int j = 0; j < r; ++j) chosen[static_cast<std::size_t>(j)] = j;
    while (true) {
      unsigned mask = 0;
      for (int index : chosen) mask |= flip_bit(axes[static_cast<std::size_t>(index)], options.is_2d);
      variants.push_back(mask);
      int j = r - 1;
      while (j >= 0 && chosen[static_cast<std::size_t>(j)] == m - r + j) --j;
      if (j < 0) break;
      ++chosen[static_cast<std::size_t>(j)];
      for (int l = j + 1; l < r; ++l) chosen[static_cast<std::size_t>(l)] = chosen[static_cast<std::size_t>(l - 1)] + 1;
    }
  }
  return variants;
}

// Tile origins in the case's coordinates, in nnU-Net's order (spec §8.3 steps 1 and 2): the case is
// padded (virtually) to at least the patch, Δ//2 before; 2d: every slice, padding along axes 1, 2 only.
std::vector<TileOrigin> tile_origins(const Shape& case_shape, const SlidingWindowOptions& options) {
  std::array<std::vector<std::int64_t>, 3> starts;
  for (int axis = 0; axis < 3; ++axis) {
    const std::int64_t size = case_shape[axis + 1], patch = options.patch[static_cast<std::size_t>(axis)];
    if (options.is_2d && axis == 0) {
      for (std::int64_t d = 0; d < size; ++d) starts[0].push_back(d);
      continue;
    }
    const std::int64_t pad = std::max<std::int64_t>(patch - size, 0);
    for (std::int64_t start : sliding_window_starts(size + pad, patch, options.step_size))
      starts[static_cast<std::size_t>(axis)].push_back(start - pad / 2);
  }
  std::vector<TileOrigin> origins;
  for (std::int64_t s0 : starts[0])
    for (std::int64_t s1 : starts[1])
      for (std::int64_t s2 : starts[2]) origins.push_back(TileOrigin{s0, s1, s2});
  return origins;
}

// Host memory the system can still give (Linux MemAvailable), for the automatic tile batch.
std::uint64_t host_available_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t value = 0;
  std::string unit;
  while (meminfo >> key >> value >> unit)
    if (key == "MemAvailable:") return value * 1024;
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
}

// Peak bytes of one no-grad forward of a batch of one tile, measured on a Meta context modelling
// ctx's device (input tile included, parameters not).
std::uint64_t forward_bytes_per_tile(const Context& ctx, const UNetConfig& network, const TileSize& tile,
                                     DType activations) {
  auto meta = Context::meta(ctx.device());
  meta->set_workspace_cap(ctx.workspace_cap());
  UNetConfig config = network;
  config.deep_supervision = false;
  UNet model(*meta, config, DType::f32, 0);
  Allocator& allocator = allocator_for(Device::Meta);
  const std::uint64_t base = allocator.stats().current_bytes;
  allocator.reset_peak();
  {
    Tape tape(*meta);
    NoGradGuard no_grad(tape);
    const Tensor x = Tensor::empty(Shape{1, tile[0], tile[1], tile[2], config.input_channels}, activations, *meta);
    model.forward(tape, Var(x, false));
  }
  const std::uint64_t peak = allocator.stats().peak_bytes;
  return peak > base ? peak - base : 1;
}

// Tiles per CPU call, in voxels, beyond which the automatic batch stays at one tile.
constexpr std::int64_t kCpuBatchVoxels = std::int64_t{1} << 18;

// Tile batch 0: the most tiles whose forward fits half of the memory left after the buffers.
int automatic_tile_batch(const Context& ctx, const UNetConfig& network, const TileSize& tile, DType activations,
                         std::int64_t tiles, std::uint64_t buffer_bytes) {
  // CPU: a tile of kCpuBatchVoxels voxels already gives every core many GEMM row tiles, so batching
  // larger tiles buys no speed (measured: 64 x 160 x 160 tiles, batch 4 vs 1, the same seconds) and
  // costs their activations (twice the peak memory there).
  const std::int64_t tile_voxels = static_cast<std::int64_t>(tile[0]) * tile[1] * tile[2];
  const std::int64_t cpu_cap = std::clamp<std::int64_t>((kCpuBatchVoxels + tile_voxels - 1) / tile_voxels, 1, 4);
  const int cap = static_cast<int>(std::min<std::int64_t>(ctx.device() == Device::CUDA ? 8 : cpu_cap, tiles));
  std::uint64_t available = 0;
  if (ctx.device() == Device::CUDA) {
    if (const std::optional<CudaMemoryState> state = cuda_memory_state())
      available = state->device_free + state->pool_cached();
  } else {
    available = host_available_bytes();
  }
  available = available > buffer_bytes ? available - buffer_bytes : 0;
  const std::uint64_t per_tile = forward_bytes_per_tile(ctx, network, tile, activations);
  return static_cast<int>(std::clamp<std::uint64_t>(available / 2 / per_tile, 1, static_cast<std::uint64_t>(cap)));
}

void check_arguments(const Context& ctx, const std::vector<UNet*>& networks, const Tensor& image,
                     const SlidingWindowOptions& options) {
  const char* op = "predict_sliding_window";
  NNUC_CHECK(ctx.device() == Device::CPU || ctx.device() == Device::CUDA, op, ": runs on the CPU or CUDA, not ",
             device_name(ctx.device()));
  NNUC_CHECK(image.defined() && image.dtype() == DType::f32 && image.rank() == 4, op,
             ": image must be f32 (C, b0, b1, b2), got ", image.defined() ? image.describe() : std::string("nothing"));
  NNUC_CHECK(image.device() == Device::CPU || image.device() == ctx.device(), op, ": image is ", image.describe(),
             " but the prediction runs on ", device_name(ctx.device()));
  NNUC_CHECK(image.dim(1) >= 1 && image.dim(2) >= 1 && image.dim(3) >= 1, op, ": empty image ", image.describe());
  NNUC_CHECK(!networks.empty(), op, ": no networks");
  for (std::size_t f = 0; f < networks.size(); ++f) {
    NNUC_CHECK(networks[f] != nullptr, op, ": network ", f, " is null");
    const UNetConfig& config = networks[f]->config();
    NNUC_CHECK(!config.deep_supervision, op, ": network ", f, " has deep supervision on; inference needs it off");
    NNUC_CHECK(config.input_channels == image.dim(0), op, ": network ", f, " takes ", config.input_channels,
               " input channels, the image has ", image.dim(0));
    NNUC_CHECK(config.num_classes == networks[0]->config().num_classes, op, ": network ", f, " has ",
               config.num_classes, " classes, network 0 has ", networks[0]->config().num_classes);
    const std::vector<NamedParameter> parameters = networks[f]->parameters();
    NNUC_CHECK(parameters.empty() || parameters.front().var->value().device() == ctx.device(), op, ": network ", f,
               " has its parameters on ", device_name(parameters.front().var->value().device()),
               ", the prediction runs on ", device_name(ctx.device()));
  }
  for (int axis = 0; axis < 3; ++axis)
    NNUC_CHECK(options.patch[static_cast<std::size_t>(axis)] >= 1, op, ": patch size (", options.patch[0], ", ",
               options.patch[1], ", ", options.patch[2], ") must be >= 1 per axis");
  NNUC_CHECK(!options.is_2d || options.patch[0] == 1, op, ": a 2d configuration's patch is (1, p1, p2), got (",
             options.patch[0], ", ", options.patch[1], ", ", options.patch[2], ")");
  for (int axis = 0; axis < 3; ++axis) {
    std::int64_t total_stride = 1;
    for (const Triple& stride : networks[0]->config().strides) total_stride *= stride[static_cast<std::size_t>(axis)];
    NNUC_CHECK(options.patch[static_cast<std::size_t>(axis)] % total_stride == 0, op, ": patch size ",
               options.patch[static_cast<std::size_t>(axis)], " along axis ", axis,
               " is not divisible by the network's total stride ", total_stride);
  }
  NNUC_CHECK(options.step_size > 0 && options.step_size <= 1, op, ": step size ", options.step_size,
             ", expected in (0, 1]");
  NNUC_CHECK(options.tile_batch >= 0, op, ": tile batch ", options.tile_batch, ", expected >= 0 (0 = automatic)");
  if (ctx.device() == Device::CUDA) {
    NNUC_CHECK(options.activations == DType::f32 || options.activations == DType::bf16, op,
               ": activations must be f32 or bf16 on CUDA, got ", dtype_name(options.activations));
  } else {
    NNUC_CHECK(options.activations == DType::f32, op, ": activations must be f32 on the CPU, got ",
               dtype_name(options.activations));
  }
  if (options.use_mirroring) {
    const int axes = options.is_2d ? 2 : 3;
    unsigned seen = 0;
    for (int axis : options.mirror_axes) {
      NNUC_CHECK(axis >= 0 && axis < axes, op, ": mirror axis ", axis, " out of range for a ",
                 options.is_2d ? "2d" : "3d", " configuration (0 .. ", axes - 1, ")");
      NNUC_CHECK((seen & (1u << axis)) == 0, op, ": mirror axis ", axis, " given twice");
      seen |= 1u << axis;
    }
  }
}

// The Gaussian-weighted sums of the networks' tiles and their weights, on the device or on the host.
struct Accumulator {
  Tensor acc;      // f32 (K, b0, b1, b2)
  Tensor weights;  // f32 (b0, b1, b2)
  bool defined() const { return acc.defined(); }
};

}  // namespace

std::vector<std::int64_t> sliding_window_starts(std::int64_t size, std::int64_t tile, double step_size) {
  NNUC_CHECK(tile >= 1, "sliding_window_starts: tile size ", tile, ", expected >= 1");
  NNUC_CHECK(size >= tile, "sliding_window_starts: size ", size, " is smaller than the tile ", tile,
             " (pad the image to the tile first)");
  NNUC_CHECK(step_size > 0 && step_size <= 1, "sliding_window_starts: step size ", step_size, ", expected in (0, 1]");
  const double target_step = static_cast<double>(tile) * step_size;
  const auto steps = static_cast<std::int64_t>(std::ceil(static_cast<double>(size - tile) / target_step)) + 1;
  if (steps <= 1) return {0};
  const double actual_step = static_cast<double>(size - tile) / static_cast<double>(steps - 1);
  std::vector<std::int64_t> starts;
  for (std::int64_t k = 0; k < steps; ++k)
    starts.push_back(static_cast<std::int64_t>(std::nearbyint(actual_step * static_cast<double>(k))));
  return starts;
}

Tensor gaussian_importance_map(const std::array<std::int64_t, 3>& tile) {
  NNUC_CHECK(tile[0] >= 1 && tile[1] >= 1 && tile[2] >= 1, "gaussian_importance_map: tile (", tile[0], ", ", tile[1],
             ", ", tile[2], ") must be >= 1 per axis");
  std::array<std::vector<double>, 3> factors;  // exp(-(x - floor(P/2))^2 / (2 sigma^2)) per axis
  for (std::size_t axis = 0; axis < 3; ++axis) {
    const double sigma = static_cast<double>(tile[axis]) / 8, center = static_cast<double>(tile[axis] / 2);
    for (std::int64_t x = 0; x < tile[axis]; ++x) {
      const double d = static_cast<double>(x) - center;
      factors[axis].push_back(std::exp(-d * d / (2 * sigma * sigma)));
    }
  }
  Tensor out = Tensor::empty_cpu(Shape{tile[0], tile[1], tile[2]}, DType::f32);  // (P0, P1, P2)
  float* g = out.data<float>();
  float smallest = std::numeric_limits<float>::infinity();
  std::int64_t i = 0;
  for (std::int64_t x0 = 0; x0 < tile[0]; ++x0)
    for (std::int64_t x1 = 0; x1 < tile[1]; ++x1)
      for (std::int64_t x2 = 0; x2 < tile[2]; ++x2, ++i) {
        const double value = 10 * factors[0][static_cast<std::size_t>(x0)] * factors[1][static_cast<std::size_t>(x1)] *
                             factors[2][static_cast<std::size_t>(x2)];
        g[i] = static_cast<float>(round_to_f16(value));  // fp16 values are exact in f32
        if (g[i] > 0) smallest = std::min(smallest, g[i]);
      }
  for (std::int64_t j = 0; j < out.numel(); ++j)
    if (g[j] == 0) g[j] = smallest;
  return out;
}

Tensor predict_sliding_window(const Context& ctx, const std::vector<UNet*>& networks, const Tensor& image,
                              const SlidingWindowOptions& options, SlidingWindowStats* stats,
                              const std::function<void(std::int64_t, std::int64_t)>& progress,
                              const CancelFlag* cancel) {
  NNUC_RANGE("predict_sliding_window");
  check_arguments(ctx, networks, image, options);
  const Context& host = Context::cpu();
  const bool cuda = ctx.device() == Device::CUDA;
  const Shape case_shape = image.shape();  // (C, b0, b1, b2)
  const Shape spatial{case_shape[1], case_shape[2], case_shape[3]};
  const std::int64_t classes = networks[0]->config().num_classes;
  const TileSize tile = options.patch;
  const std::vector<TileOrigin> origins = tile_origins(case_shape, options);
  const std::vector<unsigned> variants = mirror_variants(options);
  const auto tiles = static_cast<std::int64_t>(origins.size());
  const auto total = tiles * static_cast<std::int64_t>(networks.size());
  const float variant_scale = 1.0f / static_cast<float>(variants.size());  // 2^-j: exact

  const Tensor gaussian_host = gaussian_importance_map(tile);  // (t0, t1, t2)
  Tensor gaussian = cuda ? Tensor() : gaussian_host;           // on ctx's device once needed
  Tensor case_image = image.device() == ctx.device() ? image : Tensor();

  SlidingWindowStats local;
  int batch = options.tile_batch;
  if (batch == 0) {
    const std::uint64_t voxels = static_cast<std::uint64_t>(spatial.numel());
    const std::uint64_t buffers =
        voxels * 4 * static_cast<std::uint64_t>(classes + 1 + (case_image.defined() ? 0 : case_shape[0]));
    batch = automatic_tile_batch(ctx, networks[0]->config(), tile, options.activations, tiles,
                                 options.accumulate_on_device || !cuda ? buffers : 0);
  }
  batch = static_cast<int>(std::min<std::int64_t>(batch, tiles));
  bool on_device = options.accumulate_on_device;
  std::int64_t done = 0;

  Tape tape(ctx);
  NoGradGuard no_grad(tape);
  // One pair of buffers for every network: each adds its weighted tiles and the same weights, so the
  // division at the end is the mean over the networks of each one's weighted average.
  Accumulator sums;
  for (std::size_t f = 0; f < networks.size(); ++f) {
    UNet* network = networks[f];
    std::size_t next = 0;
    while (next < origins.size()) {
      try {
        if (!case_image.defined()) case_image = image.copy_to(ctx);
        if (!gaussian.defined()) gaussian = gaussian_host.copy_to(ctx);
        if (!sums.defined()) {
          const Context& where = on_device ? ctx : host;
          const auto sum_bytes = static_cast<std::size_t>((classes + 1) * spatial.numel()) * sizeof(float);
          if (where.device() == Device::CPU) allocator_for(Device::CPU).release_cached_before(sum_bytes);
          sums.acc = Tensor::empty(Shape{classes, spatial[0], spatial[1], spatial[2]}, DType::f32, where);
          sums.weights = Tensor::empty(spatial, DType::f32, where);
          fill(where, sums.acc, 0.0);
          fill(where, sums.weights, 0.0);
        }
        const std::size_t count = std::min(origins.size() - next, static_cast<std::size_t>(batch));
        const std::vector<TileOrigin> chunk(origins.begin() + static_cast<std::ptrdiff_t>(next),
                                            origins.begin() + static_cast<std::ptrdiff_t>(next + count));
        const auto n = static_cast<std::int64_t>(count);
        Tensor tile_sum = Tensor::empty(Shape{n, tile[0], tile[1], tile[2], classes}, DType::f32, ctx);
        for (std::size_t v = 0; v < variants.size(); ++v) {
          throw_if_cancelled(cancel, detail::concat("in the sliding window, after ", done, " of ", total, " tiles"));
          Tensor x = extract_tiles(ctx, case_image, chunk, tile, variants[v], options.activations);
          std::vector<Var> outputs = network->forward(tape, Var(std::move(x), false));
          const Tensor& y = outputs.front().value();  // (n, t0, t1, t2, K)
          NNUC_CHECK(y.shape() == tile_sum.shape(), "predict_sliding_window: the network maps a tile batch (", n, ", ",
                     tile[0], ", ", tile[1], ", ", tile[2], ") to ", y.describe(),
                     "; the patch must be divisible by the network's total stride");
          add_flipped_tiles(ctx, y, variants[v], tile_sum, v == 0);
          ++local.network_calls;
        }
        if (sums.acc.device() == ctx.device()) {
          accumulate_tiles(ctx, tile_sum, gaussian, variant_scale, chunk, sums.acc, sums.weights);
        } else {
          const Tensor host_sum = tile_sum.to_cpu();
          accumulate_tiles(host, host_sum, gaussian_host, variant_scale, chunk, sums.acc, sums.weights);
        }
        next += count;
        done += n;
        if (progress) progress(done, total);
      } catch (const OutOfMemory&) {
        if (on_device) {
          on_device = false;
          local.fell_back_to_host = true;
          if (sums.defined() && sums.acc.device() != Device::CPU) {
            sums.acc = sums.acc.to_cpu();  // the sums of the tiles done so far go on from the host
            sums.weights = sums.weights.to_cpu();
          }
          continue;
        }
        if (batch > 1) {
          batch /= 2;
          continue;
        }
        throw;
      }
    }
    // Finite so far: a non-finite sum after this network is this network's.
    const Context& where = sums.acc.device() == ctx.device() ? ctx : host;
    if (any_nonfinite(where, {sums.acc}).to_vector<float>()[0] != 0) {
      NNUC_THROW(Error, "predict_sliding_window: network ", f, " gave non-finite logits (NaN or Inf) for the case ",
                 image.describe());
    }
  }
  const Context& where = sums.acc.device() == ctx.device() ? ctx : host;
  normalize_by_weights(where, sums.acc, sums.weights);
  sums.weights = Tensor();
  Tensor result = sums.acc.device() == Device::CPU ? sums.acc : sums.acc.to_cpu();
  local.tiles = tiles;
  local.final_tile_batch = batch;
  if (stats) *stats = local;
  return result;
}

}  // namespace nnuc::nn
