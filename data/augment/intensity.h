// The intensity transforms of nnU-Net's training augmentation, spec §7.3 steps 4-10, on channel-first
// crops f32 (B, C, X, Y, Z): Gaussian noise, Gaussian blur, multiplicative brightness, contrast,
// simulated low resolution, inverted gamma, gamma. Every transform acts on each (sample, channel)
// volume on its own; the CPU implementation (intensity_cpu.cpp) is the specification, the CUDA one
// (intensity_cuda.cu) runs the same parameters on the GPU.
//
// Parameters are drawn on the host, once per sample, by draw_intensity, in this fixed order (each
// "u" is one PhiloxDraws::uniform(), two 32-bit words; BG(a, b) is two: a coin u, then a value u):
//   4  noise:      fire u < 0.1;   sigma = U(0, 0.1)
//   5  blur:       fire u < 0.2;   per channel: fire u < 0.5, then sigma for axes 0, 1, 2 = U(0.5, 1)
//   6  brightness: fire u < 0.15;  per channel: multiplier = BG(0.75, 1.25)
//   7  contrast:   fire u < 0.15;  per channel: factor = BG(0.75, 1.25)
//   8  low res:    fire u < 0.25;  per channel: fire u < 0.5, then zoom z = U(0.5, 1)
//   9  inv. gamma: fire u < 0.1;   per channel: gamma = BG(0.7, 1.5)
//   10 gamma:      fire u < 0.3;   per channel: gamma = BG(0.7, 1.5)
// BG(a, b): coin < 0.5 (and a < 1) -> a + (1 - a) u, else 1 + (b - 1) u. Everything is drawn whether or
// not it fires, so a sample always consumes kIntensityUniformsPerSample + C * kIntensityUniformsPerChannel
// uniforms and the draws after step 10 (mirroring, cascade) do not depend on which transforms fired.
//
// Axes. Step 4 runs after the spatial transform has unfolded a dummy-2D sample back to (C, X, Y, Z)
// (step 3), as nnU-Net applies Convert2DTo3DTransform before its intensity transforms. So:
//   - blur smooths all three axes in every configuration, axis 0 of a dummy-2D sample included (as
//     nnU-Net does); in 2-D configurations X = 1 and blurring an axis of length 1 is the identity
//     (the axis-0 sigma is drawn and unused), which leaves nnU-Net's blur of its (C, Y, Z) sample;
//   - low resolution keeps axis 0 at zoom 1 in dummy-2D (nnU-Net's ignore_axes = (0,)); in 2-D,
//     round(1 * z) = 1, and linear resampling of a length-1 axis to itself is the identity.
// Borders. Blur reflects without repeating the edge voxel (torch "reflect") and keeps reflecting for
// axes shorter than the kernel radius (period 2 (L - 1)), where torch would refuse the padding.
//
// Noise. Voxel v (flat index in its channel's X*Y*Z volume) of channel c of sample b gets
// sigma * intensity_noise_normal(noise_key, iteration, b, c, v): one Philox block per voxel pair,
// counter (iteration, b, c, v / 2), words 0-1 for even v and 2-3 for odd v through philox_normalf.
// Each channel gets its own noise field and all channels share sigma (spec §7.3 step 4, §12.2; the
// batchgeneratorsv2 GaussianNoiseTransform with synchronize_channels = True that nnU-Net configures
// adds one shared field to every channel instead, which matters only for multi-channel inputs).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/philox.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc::augment {

// nnU-Net's probabilities and ranges (spec §7.3 steps 4-10).
constexpr double kNoiseProbability = 0.1;
constexpr double kNoiseSigmaMax = 0.1;
constexpr double kBlurProbability = 0.2;
constexpr double kBlurChannelProbability = 0.5;
constexpr double kBlurSigmaMin = 0.5, kBlurSigmaMax = 1.0;
constexpr double kBrightnessProbability = 0.15;
constexpr double kBrightnessMin = 0.75, kBrightnessMax = 1.25;
constexpr double kContrastProbability = 0.15;
constexpr double kContrastMin = 0.75, kContrastMax = 1.25;
constexpr double kLowResolutionProbability = 0.25;
constexpr double kLowResolutionChannelProbability = 0.5;
constexpr double kLowResolutionZoomMin = 0.5, kLowResolutionZoomMax = 1.0;
constexpr double kInvertedGammaProbability = 0.1;
constexpr double kGammaProbability = 0.3;
constexpr double kGammaMin = 0.7, kGammaMax = 1.5;
constexpr float kGammaEpsilon = 1e-7f;  // floor of the range and of the std in the gamma transforms

// Draw counts (see the order above).
constexpr int kIntensityUniformsPerSample = 8;
constexpr int kIntensityUniformsPerChannel = 14;

// Blur kernels have at most 7 taps (sigma < 1.25); spatial lengths are at most kMaxIntensityLength
// (a CUDA blur tile holds one whole line in shared memory).
constexpr int kMaxBlurTaps = 7;
constexpr std::int64_t kMaxIntensityLength = 8192;

// CUDA vs CPU on the same data and parameters, for data of unit scale (z-scored crops). Both round
// every f32 operation alike (no fused multiply-adds), so blur, brightness and low resolution agree
// bit for bit on equal inputs; logf/cosf (noise), powf (gamma) and the summation order of the f64
// statistics differ by an ulp or so. Gamma maps voxels a few ulps above the channel minimum through
// t^gamma, which can turn an ulp of difference in its input into ~1e-5 of the range: hence the bound.
constexpr Tolerance kIntensityTolerance{1e-4, 1e-4};

// Parameters of one channel of one sample. A channel-level value is used only when its sample-level
// transform fires (IntensityParams).
struct IntensityChannel {
  bool blur = false;                         // step 5: this channel is blurred
  std::array<float, 3> blur_sigma{1, 1, 1};  // step 5: sigma per axis (0, 1, 2)
  float brightness = 1;                      // step 6: multiplier
  float contrast = 1;                        // step 7: factor
  bool low_resolution = false;               // step 8: this channel is resampled
  std::array<float, 3> zoom{1, 1, 1};        // step 8: per axis (dummy-2D: axis 0 is 1)
  float inverted_gamma = 1;                  // step 9
  float gamma = 1;                           // step 10
};

// Everything steps 4-10 need for one sample: which transforms fire, and their parameters.
struct IntensityParams {
  bool noise = false;
  float noise_sigma = 0;  // step 4: standard deviation, shared by the channels
  bool blur = false;
  bool brightness = false;
  bool contrast = false;
  bool low_resolution = false;
  bool inverted_gamma = false;
  bool gamma = false;
  std::vector<IntensityChannel> channels;  // one per image channel

  bool blurs(int c) const { return blur && channels[static_cast<std::size_t>(c)].blur; }
  bool resamples(int c) const { return low_resolution && channels[static_cast<std::size_t>(c)].low_resolution; }
};

// draw_intensity: draws steps 4-10 for one sample in the order documented above.
// requires: channels >= 1.
// ensures:  consumes exactly kIntensityUniformsPerSample + channels * kIntensityUniformsPerChannel
//           uniforms of `draws`; dummy_2d sets zoom[0] = 1.
IntensityParams draw_intensity(PhiloxDraws& draws, int channels, bool dummy_2d);

// apply_intensity: steps 4-10 in order, in place, on data f32 (B, C, X, Y, Z); sample b uses params[b]:
//   4  x += sigma n,  n = intensity_noise_normal(noise_key, iteration, b, c, voxel)
//   5  x = blur_2(blur_1(blur_0(x))), blur_a the 1-D convolution along axis a with
//      blur_kernel(sigma_a), reflect border
//   6  x *= m
//   7  x = clamp((x - mean) f + mean, min, max), statistics of x before the step
//   8  x = linear_up(nearest_down(x)) to round(shape z) and back (intensity_low_resolution_size,
//      intensity_nearest_source, intensity_linear_source)
//   9  as 10 on -x, negated again
//   10 t = ((x - min) / max(max - min, eps))^gamma (max - min) + min;
//      x = (t - mean_t) std / max(std_t, eps) + mean, mean/std (unbiased) of x before the step
// Statistics accumulate in f64 and are rounded to f32 before use; the arithmetic is f32.
// requires: data defined, f32, rank 5, on ctx's device, every spatial length <= kMaxIntensityLength
//           and X*Y*Z < 2^32; params.size() == B, params[b].channels.size() == C; blur sigmas > 0 with
//           at most kMaxBlurTaps taps, zooms in (0, 1], gammas > 0, noise sigma >= 0, all finite.
// ensures:  data holds the transformed crops. Allocates (ctx's allocator, freed on return, stream-
//           ordered on CUDA) the low-resolution volumes of the resampled channels and, on CUDA, f64
//           statistics scratch; on Meta it allocates the same and computes nothing. The CUDA path
//           queues all its work on ctx's stream without a host synchronization.
void apply_intensity(const Context& ctx, Tensor& data, const std::vector<IntensityParams>& params, PhiloxKey noise_key,
                     std::uint32_t iteration);

// ---- the rules both implementations share ----------------------------------------------------------

// A normalized Gaussian kernel: taps[k] = exp(-(k - r)^2 / (2 sigma^2)) / sum, r = (size - 1) / 2, with
// size = n = 6 sigma + 0.5 rounded to the nearest odd integer as nnU-Net rounds it (Python round, then
// from an even result one step towards n): 1 for sigma < 0.25, 3 for sigma < 0.5833, 5 for sigma <
// 0.9167, 7 for sigma < 1.25, 9 from there on.
struct BlurKernel {
  int size = 1;
  float taps[kMaxBlurTaps] = {1, 0, 0, 0, 0, 0, 0};
};
int blur_kernel_size(double sigma);
// requires: sigma > 0 and blur_kernel_size(sigma) <= kMaxBlurTaps.
BlurKernel blur_kernel(double sigma);

// Index of the voxel that position i (any integer) reads on an axis of `length` voxels, reflecting
// at both ends without repeating the edge voxel: -1 -> 1, length -> length - 2; periodic beyond.
NNUC_HD std::int64_t intensity_reflect(std::int64_t i, std::int64_t length) {
  if (length == 1) return 0;
  const std::int64_t period = 2 * (length - 1);
  i %= period;
  if (i < 0) i += period;
  return i < length ? i : period - i;
}

// Downsampled length of an axis: round(length * zoom) with round-half-to-even (Python's round of
// the f32 zoom widened to double), at least 1.
std::int64_t intensity_low_resolution_size(std::int64_t length, float zoom);

// "nearest-exact" source index of output voxel dst when resizing `in` voxels to `out`:
// floor((dst + 0.5) in / out), in exact integer arithmetic, clamped to in - 1.
NNUC_HD std::int64_t intensity_nearest_source(std::int64_t dst, std::int64_t in, std::int64_t out) {
  const std::int64_t src = ((2 * dst + 1) * in) / (2 * out);
  return src < in - 1 ? src : in - 1;
}

// Linear interpolation, align_corners = False, as torch computes it for f32: scale = in / out (f32),
// src = max(scale (dst + 0.5) - 0.5, 0); i0 = floor(src), i1 = min(i0 + 1, in - 1), weight of i1 =
// src - i0. Rounded per operation on both devices (no fused multiply-add).
struct LinearSource {
  std::int64_t i0, i1;
  float w1;
};
NNUC_HD LinearSource intensity_linear_source(std::int64_t dst, std::int64_t in, std::int64_t out) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
#if defined(__CUDA_ARCH__)
  float src = __fsub_rn(__fmul_rn(scale, __fadd_rn(static_cast<float>(dst), 0.5f)), 0.5f);
#else
  float src = scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
#endif
  if (src < 0) src = 0;
  const auto i0 = static_cast<std::int64_t>(src);
  return LinearSource{i0, i0 < in - 1 ? i0 + 1 : i0, src - static_cast<float>(i0)};
}

// The standard normals that step 4 adds (times sigma) to voxels 2 pair and 2 pair + 1 of channel
// `channel` of batch element `sample`: one Philox block, words 0-1 and 2-3 through philox_normalf.
struct NoisePair {
  float even, odd;
};
NNUC_HD NoisePair intensity_noise_pair(PhiloxKey key, std::uint32_t iteration, std::uint32_t sample,
                                       std::uint32_t channel, std::uint32_t pair) {
  const Philox4 block = philox4x32(PhiloxCounter{iteration, sample, channel, pair}, key);
  return NoisePair{philox_normalf(block.v[0], block.v[1]), philox_normalf(block.v[2], block.v[3])};
}
// The one of voxel `voxel` (flat index in the channel's X*Y*Z volume).
NNUC_HD float intensity_noise_normal(PhiloxKey key, std::uint32_t iteration, std::uint32_t sample,
                                     std::uint32_t channel, std::uint64_t voxel) {
  const NoisePair pair = intensity_noise_pair(key, iteration, sample, channel, static_cast<std::uint32_t>(voxel >> 1));
  return (voxel & 1u) ? pair.odd : pair.even;
}

// Per-volume offsets (b * C + c) into the buffer of downsampled volumes that step 8 needs (-1 for a
// volume that is not resampled), and its total element count.
struct LowResolutionLayout {
  std::vector<std::int64_t> offsets;
  std::int64_t total = 0;
};
LowResolutionLayout low_resolution_layout(const Shape& data_shape, const std::vector<IntensityParams>& params);

// Elements of the CUDA statistics scratch (f64): for every volume of the batch, one partial (sum and
// sum of squares around the volume's first value, min, max) per chunk of kIntensityStatisticsChunk
// voxels, then two sets of finished statistics (mean, std, min, max) per volume; 0 when neither
// contrast nor gamma fires in the batch.
constexpr std::int64_t kIntensityStatisticsChunk = 16384;
std::int64_t intensity_statistics_elements(const Shape& data_shape, const std::vector<IntensityParams>& params);

// Implementations: valid inputs, `low_resolution` f32 of low_resolution_layout(...).total elements
// (undefined when 0); CUDA also takes `statistics`, f64 of intensity_statistics_elements(...) elements
// (undefined when 0).

namespace cpu {
void apply_intensity(Tensor& data, const std::vector<IntensityParams>& params, PhiloxKey noise_key,
                     std::uint32_t iteration, Tensor& low_resolution);
}  // namespace cpu

namespace cuda {
void apply_intensity(const Context& ctx, Tensor& data, const std::vector<IntensityParams>& params, PhiloxKey noise_key,
                     std::uint32_t iteration, Tensor& low_resolution, Tensor& statistics);
}  // namespace cuda

}  // namespace nnuc::augment
