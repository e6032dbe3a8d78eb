// The per-voxel arithmetic of spatial_transform (spatial.h), written once for the CPU loop and the
// CUDA kernel. Every f32 operation goes through mul_rn / add_rn, which round once on both devices
// (nvcc would otherwise contract a*b+c into an FMA), so the two implementations agree bit for bit.
#pragma once

#include <cmath>
#include <cstdint>

#include "data/augment/spatial.h"
#include "kernels/core/dtype.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define NNUC_AUGMENT_HD __host__ __device__ __forceinline__
#else
#define NNUC_AUGMENT_HD inline
#endif

namespace nnuc::augment::detail {

NNUC_AUGMENT_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
NNUC_AUGMENT_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
// The value rounded to fp16 (nearest even) and back: the comparison precision of the label vote.
NNUC_AUGMENT_HD float round_f16(float value) {
#if defined(__CUDA_ARCH__)
  return __half2float(__float2half_rn(value));
#else
  return f16_to_float(float_to_f16(value));
#endif
}

inline constexpr float kLabelScale = 1000.0f;  // nnU-Net's indicator scale (fp16 keeps 0.5 steps here)

// The interpolation neighbours of one output voxel: 8 (volumetric) or 4 (planar), in the order
// bit 2 = axis 0, bit 1 = axis 1, bit 0 = axis 2 of the corner index. Neighbours outside the input
// have valid = false.
struct Neighbours {
  std::int64_t offset[8];  // linear index in one (L0, L1, L2) channel
  float weight[8];
  bool valid[8];
  int count;
  bool inside;  // the sample position lies in [0, L_d − 1] for every transformed axis
};

// Sample position of output voxel (j0, j1, j2) and its neighbours in an input of extent (L0, L1, L2).
NNUC_AUGMENT_HD Neighbours neighbours(const SpatialSample& s, bool planar, std::int64_t j0, std::int64_t j1,
                                      std::int64_t j2, std::int64_t L0, std::int64_t L1, std::int64_t L2) {
  const float t[3] = {add_rn(static_cast<float>(j0), -s.centre_out[0]),
                      add_rn(static_cast<float>(j1), -s.centre_out[1]),
                      add_rn(static_cast<float>(j2), -s.centre_out[2])};
  float x[3];
  for (int d = 0; d < 3; ++d) {
    const float* row = s.matrix + 3 * d;
    float sum = planar ? 0.0f : mul_rn(row[0], t[0]);
    sum = add_rn(sum, mul_rn(row[1], t[1]));
    sum = add_rn(sum, mul_rn(row[2], t[2]));
    x[d] = add_rn(sum, s.centre_in[d]);
  }
  const std::int64_t extent[3] = {L0, L1, L2};
  Neighbours n{};
  n.inside = true;
  std::int64_t base[3];
  float upper[3], lower[3];  // weights of the upper / lower neighbour per axis
  for (int d = 0; d < 3; ++d) {
    if (d == 0 && planar) {
      base[0] = j0;  // passes through: weight 1 on j0
      lower[0] = 1.0f;
      upper[0] = 0.0f;
      continue;
    }
    const float floor_x = floorf(x[d]);
    base[d] = static_cast<std::int64_t>(floor_x);
    upper[d] = add_rn(x[d], -floor_x);  // exact
    lower[d] = add_rn(1.0f, -upper[d]);
    n.inside = n.inside && x[d] >= 0.0f && x[d] <= static_cast<float>(extent[d] - 1);
  }
  n.count = planar ? 4 : 8;
  for (int k = 0; k < n.count; ++k) {
    const int a0 = planar ? 0 : (k >> 2) & 1, a1 = (k >> 1) & 1, a2 = k & 1;
    const std::int64_t i0 = base[0] + a0, i1 = base[1] + a1, i2 = base[2] + a2;
    n.valid[k] = i0 >= 0 && i0 < L0 && i1 >= 0 && i1 < L1 && i2 >= 0 && i2 < L2;
    n.offset[k] = n.valid[k] ? (i0 * L1 + i1) * L2 + i2 : 0;
    const float w12 = mul_rn(a1 ? upper[1] : lower[1], a2 ? upper[2] : lower[2]);
    n.weight[k] = planar ? w12 : mul_rn(a0 ? upper[0] : lower[0], w12);
  }
  return n;
}

// Linear interpolation of one channel (neighbours outside contribute 0).
NNUC_AUGMENT_HD float interpolate(const Neighbours& n, const float* channel) {
  float sum = 0.0f;
  for (int k = 0; k < n.count; ++k)
    if (n.valid[k]) sum = add_rn(sum, mul_rn(n.weight[k], channel[n.offset[k]]));
  return sum;
}

// The label vote of one seg channel (see spatial.h), −1 outside.
NNUC_AUGMENT_HD std::int16_t vote_label(const Neighbours& n, const std::int16_t* channel) {
  if (!n.inside) return -1;
  std::int16_t labels[8];
  float values[8];
  int distinct = 0;
  for (int k = 0; k < n.count; ++k) {
    if (!n.valid[k]) continue;
    const std::int16_t label = channel[n.offset[k]];
    int slot = 0;
    while (slot < distinct && labels[slot] != label) ++slot;
    if (slot == distinct) {
      labels[distinct] = label;
      values[distinct++] = 0.0f;
    }
    values[slot] = add_rn(values[slot], mul_rn(n.weight[k], kLabelScale));
  }
  // Inside the input the valid weights sum to 1, so some label holds >= 125 (the winner is never an
  // absent label); an inside position always has its base neighbour valid, so distinct >= 1.
  std::int16_t best = labels[0];
  float best_value = round_f16(values[0]);
  for (int slot = 1; slot < distinct; ++slot) {
    const float value = round_f16(values[slot]);
    if (value > best_value || (value == best_value && labels[slot] < best)) {
      best = labels[slot];
      best_value = value;
    }
  }
  return best;
}

}  // namespace nnuc::augment::detail
