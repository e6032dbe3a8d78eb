// Instance normalization fused with leaky ReLU: nnU-Net's "Norm → Nonlin" after every convolution
// (spec §5.2: InstanceNorm(eps = 1e-5, affine, biased variance, statistics per sample and channel over
// the spatial axes) then LeakyReLU(0.01)). With slope = 1 it is plain instance norm (ResEnc's conv2
// norm and its 1×1 skip norm).
//
// Memory traffic (the op is memory-bound): forward reads x twice (statistics pass, apply pass) and
// writes y; backward reads dy and x twice (reduction pass, apply pass) and writes dx. Neither saves
// the normalized tensor: backward recomputes z = gamma·x̂ + beta, and so the leaky-ReLU mask, from x
// and the saved per-(n, c) statistics.
#pragma once

#include <cstddef>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"
#include "kernels/elementwise/tolerance.h"

namespace nnuc {

// nnU-Net's constants (torch defaults for InstanceNorm3d and LeakyReLU).
constexpr double kInstanceNormEps = 1e-5;
constexpr double kLeakyReluSlope = 0.01;

// Per-(n, c) statistics saved by the forward pass for the backward pass. Both (N, C), in the
// parameter dtype (instance_norm_param_dtype).
struct InstanceNormStats {
  Tensor mean;     // (N, C): mean of x over D·H·W
  Tensor inv_std;  // (N, C): 1 / sqrt(biased variance + eps)
};

struct InstanceNormGrads {
  Tensor dx;      // (N, D, H, W, C), dtype of x
  Tensor dgamma;  // (C), parameter dtype, summed over N
  Tensor dbeta;   // (C), parameter dtype, summed over N
};

// The dtype of gamma, beta, the statistics and dgamma/dbeta for activations of dtype `x`:
// f64 for f64 activations (CPU gradchecks), f32 otherwise (f32 and bf16).
DType instance_norm_param_dtype(DType x);

// y = leaky_relu(z, slope), z = gamma[c] · (x - mean[n, c]) · inv_std[n, c] + beta[c], where mean and
// the biased variance var run over the spatial axes (D, H, W) of sample n and channel c, and
// inv_std = 1 / sqrt(var + eps); leaky_relu(z) = z if z > 0 else slope · z.
// requires:
//   - x: (N, D, H, W, C) channels-last, every dimension >= 1, on ctx's device; dtype f32 or f64 on
//     CPU, f32 or bf16 on CUDA (a Meta context accepts the dtypes of the device it models)
//   - gamma, beta: (C), dtype instance_norm_param_dtype(x.dtype()), on ctx's device
//   - eps > 0 and finite; slope finite (1 gives plain instance norm)
//   - on CUDA: N <= 65535 and C <= 2^21 (grid limits)
// ensures:
//   - returns y with x's shape and dtype; statistics accumulate in f64 on CPU, in f32 on CUDA
//   - when stats_out is not null, *stats_out holds mean and inv_std for the backward pass
//   - results do not depend on the number of threads or on the GPU (fixed reduction order, no atomics)
//   - allocates y, mean, inv_std, then instance_norm_forward_workspace_bytes of scratch (freed on return)
Tensor instance_norm_leaky_relu_forward(const Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        double eps, double slope, InstanceNormStats* stats_out);

// Gradients of instance_norm_leaky_relu_forward. With x̂ = (x - mean) · inv_std, z = gamma · x̂ + beta,
// dz = dy · (z > 0 ? 1 : slope) and M = D·H·W, per (n, c):
//   dbeta  = Σ_n Σ dz          dgamma = Σ_n Σ dz · x̂
//   dx     = gamma · inv_std · (dz - Σ dz / M - x̂ · Σ (dz · x̂) / M)
// requires:
//   - dy, x: same shape (N, D, H, W, C) and dtype, as for the forward pass
//   - gamma, beta: those given to the forward pass; stats: what the forward pass returned for x, eps
//   - slope: the forward pass's slope
// ensures:
//   - returns dx (dtype of x), dgamma and dbeta (parameter dtype, (C)); reductions in f64 on CPU,
//     f32 on CUDA, in a fixed order
//   - allocates dx, dgamma, dbeta, then instance_norm_backward_workspace_bytes of scratch (freed on return)
InstanceNormGrads instance_norm_leaky_relu_backward(const Context& ctx, const Tensor& dy, const Tensor& x,
                                                    const Tensor& gamma, const Tensor& beta,
                                                    const InstanceNormStats& stats, double slope);

// Scratch bytes the forward / backward pass borrows on `device` (CPU or CUDA) for an x of `shape`
// (N, D, H, W, C) and `dtype`: per-chunk partial statistics and per-(n, c) coefficients. Pure
// functions of their arguments; a Meta run allocates the value for the device it models.
std::size_t instance_norm_forward_workspace_bytes(Device device, const Shape& shape, DType dtype);
std::size_t instance_norm_backward_workspace_bytes(Device device, const Shape& shape, DType dtype);

// CUDA vs CPU tolerances: |cuda - cpu| <= atol + rtol · |cpu| for y, dx, mean and inv_std, with the
// CPU run on the same (bf16-rounded) inputs. bf16 outputs are rounded once from f32.
constexpr Tolerance kInstanceNormToleranceF32{1e-4, 1e-4};
constexpr Tolerance kInstanceNormToleranceBF16{2e-2, 1e-2};
// dgamma and dbeta (f32 in both modes, sums of N·D·H·W terms): |cuda - cpu| <= atol · sqrt(N·D·H·W) + rtol · |cpu|.
constexpr Tolerance kInstanceNormParamGradTolerance{2e-5, 1e-4};

}  // namespace nnuc
