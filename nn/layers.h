// The building blocks of nnU-Net's networks (spec §5.2–5.5): convolution, transposed convolution,
// instance norm, "ConvDropoutNormReLU" (conv → norm → leaky ReLU, no dropout), ResNet-D basic block.
//
// Parameters live on the Context given at construction (Meta: accounted, not allocated) in the
// parameter dtype (f32; f64 for double-precision checks). forward() computes in the activation
// dtype of its input: in mixed precision (bf16 activations) conv and transposed-conv weights are cast
// to bf16 for each forward (a cast node on the tape) while norm parameters and biases stay f32.
#pragma once

#include <array>

#include "autograd/ops.h"
#include "kernels/core/random.h"
#include "nn/module.h"

namespace nnuc::nn {

using Triple = std::array<int, 3>;  // per axis (D, H, W); 2-D networks use D = 1

// Kaiming-normal initialization of spec §5.5: N(0, σ²), σ = sqrt(2 / (1 + a²)) / sqrt(fan_in), a = 0.01.
constexpr double kKaimingNegativeSlope = 0.01;

// Allocates a parameter on ctx filled from host values (nothing is written on Meta).
Tensor make_parameter(const Context& ctx, const Shape& shape, DType dtype, const std::vector<double>& host_values);
std::vector<double> kaiming_normal(Rng& rng, std::int64_t count, std::int64_t fan_in);

class Conv : public Module {
 public:
  // weight (out, kD, kH, kW, in), bias (out); padding (k - 1) / 2 per axis.
  Conv(const Context& ctx, int in_channels, int out_channels, Triple kernel, Triple stride, bool bias, DType dtype,
       Rng& rng);
  Var forward(Tape& tape, const Var& x);
  const ConvGeometry& geometry() const { return geometry_; }

 private:
  ConvGeometry geometry_;
  Var* weight_;
  Var* bias_ = nullptr;
};

class ConvTranspose : public Module {
 public:
  // weight (in, sD, sH, sW, out), bias (out); kernel = stride. fan_in = out · prod(stride) (torch layout rule).
  ConvTranspose(const Context& ctx, int in_channels, int out_channels, Triple stride, DType dtype, Rng& rng);
  Var forward(Tape& tape, const Var& x);

 private:
  Triple stride_;
  Var* weight_;
  Var* bias_;
};

class InstanceNorm : public Module {
 public:
  // gamma = 1, beta = 0 (or 0 and 0 for ResEnc's residual-branch norms: zero_init).
  InstanceNorm(const Context& ctx, int channels, DType dtype, bool zero_init = false);
  // leaky_relu(norm(x), slope); slope 1 = norm alone.
  Var forward(Tape& tape, const Var& x, double slope);

 private:
  Var* gamma_;
  Var* beta_;
};

// conv → instance norm → leaky ReLU (slope 0.01; or no nonlinearity when `nonlinearity` is false).
class ConvNormAct : public Module {
 public:
  ConvNormAct(const Context& ctx, int in_channels, int out_channels, Triple kernel, Triple stride, DType dtype,
              Rng& rng, bool nonlinearity = true, bool zero_init_norm = false, bool conv_bias = true);
  Var forward(Tape& tape, const Var& x);

 private:
  Conv* conv_;
  InstanceNorm* norm_;
  bool nonlinearity_;
};

// ResNet-D basic block (spec §5.4): leaky_relu(conv2(conv1(x)) + skip(x)), skip = identity, or
// [avg_pool(stride)] then [1×1 conv (no bias) + norm] when the channels change.
class BasicBlockD : public Module {
 public:
  BasicBlockD(const Context& ctx, int in_channels, int out_channels, Triple kernel, Triple stride, DType dtype,
              Rng& rng);
  Var forward(Tape& tape, const Var& x);

 private:
  ConvNormAct* conv1_;
  ConvNormAct* conv2_;
  Triple stride_;
  bool pool_;
  ConvNormAct* projection_ = nullptr;
};

}  // namespace nnuc::nn
