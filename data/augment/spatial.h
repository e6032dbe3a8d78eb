// Step 2 of nnU-Net's training pipeline (spec §7.3): rotation and scaling of the loader's P_load crop
// onto the plan patch, or a plain centre crop when neither fired. Channel-first, on CPU or CUDA.
//
// Geometry (all vectors in array-axis order (a0, a1, a2)):
//   A = Rz(γ)·Ry(β)·Rx(α)·diag(s)              volumetric (3-D configurations)
//   A = [[1, 0], [0, R(α)·diag(s, s)]]           planar (2-D configurations and dummy-2D): axis 0
//                                                passes through, R(α) = [[c, −s], [s, c]] on axes 1, 2
//   output voxel j samples the input at x = A·(j − c_out) + c_in,  c = (size − 1) / 2 per axis.
// Image: (tri/bi)linear interpolation, neighbours outside the input contribute 0.
// Segmentation, per seg channel: every label u among the interpolation neighbours gets
// v_u = Σ_k w_k·1000 over the neighbours k holding u; the voxel takes the u with the largest
// fp16(v_u), ties to the smaller u (labels absent from the neighbours have v = 0 and never win);
// then −1 wherever x lies outside [0, L_d − 1] in any transformed axis. This is nnU-Net's
// "interpolate each label's indicator·1000, argmax in fp16" restricted to the labels that can be
// non-zero, so no pass over the crop for the present labels is needed (no host round-trip on CUDA).
// Neither rotated nor scaled: out[j] = in[j + start], start_d = floor(L_d/2) − floor(P_d/2), 0 / −1
// (image / seg) outside.
//
// Arithmetic: positions, weights and sums in f32, in the fixed order of spatial_voxel.h, each
// operation rounded once (no FMA contraction on either device), so CPU and CUDA compute the same bits.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kernels/core/context.h"
#include "kernels/core/philox.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc::augment {

inline constexpr double kRotationProbability = 0.2;
inline constexpr double kScalingProbability = 0.2;
inline constexpr double kScaleLow = 0.7, kScaleHigh = 1.4;

// The draws of step 2 for one sample.
struct SpatialParams {
  bool rotated = false;            // with p kRotationProbability
  bool scaled = false;             // with p kScalingProbability
  std::array<double, 3> angles{};  // radians; volumetric: α, β, γ for axes 0, 1, 2; planar: angles[0] = α
  double scale = 1;                // U(kScaleLow, kScaleHigh), shared by all axes
  bool affine() const { return rotated || scaled; }
};

// Draws step 2 for one sample: rotated, scaled, three angles angle_d = U(−θ_d, θ_d), s: always six
// uniforms, so the draws after step 2 do not depend on what fired. Angles are kept when rotated (planar:
// α only, the others 0), s when scaled (else 1).
// requires: rotation = (θ_0, θ_1, θ_2), finite, >= 0 (radians).
inline constexpr int kSpatialUniformsPerSample = 6;
SpatialParams draw_spatial(PhiloxDraws& draws, const std::array<double, 3>& rotation, bool planar);

// A as defined above, row-major 3x3, in f64 (identity when !params.affine()).
std::array<double, 9> spatial_matrix(const SpatialParams& params, bool planar);

// One sample's parameters in the form both implementations read (f32 matrix and centres).
struct SpatialSample {
  float matrix[9];        // A, row-major
  float centre_in[3];     // (L_d − 1) / 2
  float centre_out[3];    // (P_d − 1) / 2
  std::int32_t start[3];  // centre-crop start floor(L_d/2) − floor(P_d/2)
  std::int32_t affine;    // 1: interpolate; 0: centre crop
};
SpatialSample spatial_sample(const SpatialParams& params, const std::array<std::int64_t, 3>& input,
                             const std::array<std::int64_t, 3>& patch, bool planar);

struct SpatialResult {
  Tensor data;  // f32 (B, C, P0, P1, P2)
  Tensor seg;   // i16 (B, S, P0, P1, P2)
};

// spatial_transform: step 2 for every sample of a batch (the rules above).
// requires: data f32 (B, C, L0, L1, L2) and seg i16 (B, S, L0, L1, L2) on ctx's device, B >= 1,
//           C >= 1, S >= 1; params.size() == B; patch >= 1 per axis, each < 2^23 (f32 positions);
//           planar: L0 == P0.
// ensures:  returns new tensors; data and seg are not modified.
SpatialResult spatial_transform(const Context& ctx, const Tensor& data, const Tensor& seg,
                                const std::vector<SpatialParams>& params, const std::array<std::int64_t, 3>& patch,
                                bool planar);

// CUDA vs CPU: both compute the same f32 operations in the same order, so images and labels agree
// exactly; the stated tolerance only covers a device math library rounding differently.
inline constexpr Tolerance kSpatialTolerance{1e-6, 1e-6};

namespace cpu {
void spatial_transform(const Tensor& data, const Tensor& seg, const std::vector<SpatialSample>& samples, bool planar,
                       Tensor& data_out, Tensor& seg_out);
}  // namespace cpu

namespace cuda {
void spatial_transform(const Context& ctx, const Tensor& data, const Tensor& seg,
                       const std::vector<SpatialSample>& samples, bool planar, Tensor& data_out, Tensor& seg_out);
}  // namespace cuda

}  // namespace nnuc::augment
