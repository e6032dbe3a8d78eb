// kernels/optim on the CPU: sgd_step against a hand-written double-precision copy of PyTorch's
// torch.optim.SGD update over several steps (first step included), list vs single-tensor calls,
// grad_scale, step skipping, the zero-buffer form of the first step, and argument errors.
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/core/allocator.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/optim/sgd.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

const Context& cpu_ctx = Context::cpu();

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         (a.bytes() == 0 || std::memcmp(a.raw(), b.raw(), a.bytes()) == 0);
}

// torch.optim.SGD.step for one parameter (dampening 0), written out in double:
//   d_p = grad + wd * p;  buf = d_p (first step) or momentum * buf + d_p;
//   d_p = d_p + momentum * buf (nesterov) or buf;  p = p - lr * d_p.
void torch_sgd_reference(std::vector<double>& p, const std::vector<double>& grad, std::vector<double>& buf,
                         const SgdOptions& o, bool first_step) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    double d_p = grad[i] + o.weight_decay * p[i];
    if (o.momentum != 0) {
      buf[i] = first_step ? d_p : o.momentum * buf[i] + d_p;
      d_p = o.nesterov ? d_p + o.momentum * buf[i] : buf[i];
    }
    p[i] -= o.lr * d_p;
  }
}

TEST(Sgd, MatchesTorchUpdateInDoubleOverSeveralSteps) {
  const SgdOptions nnunet{1e-2, 0.99, 3e-5, true};
  const SgdOptions plain_momentum{0.05, 0.9, 1e-3, false};
  const SgdOptions no_momentum{0.1, 0.0, 0.0, false};
  for (const SgdOptions& options : {nnunet, plain_momentum, no_momentum}) {
    for (DType dtype : {DType::f32, DType::f64}) {
      const Shape shape{3, 3, 3, 5, 7};
      Tensor param = testing::random_uniform(shape, dtype);
      Tensor buffer = Tensor::empty_cpu(shape, dtype);
      testing::poison(buffer);  // not read on the first step
      if (options.momentum == 0) fill(cpu_ctx, buffer, 0.25);
      const Tensor buffer_before = buffer.copy_to(cpu_ctx);
      std::vector<double> p = param.to_vector<double>(), buf(p.size(), 0.0);
      for (int step = 0; step < 6; ++step) {
        const Tensor grad = testing::random_uniform(shape, dtype, -3, 3);
        sgd_step(cpu_ctx, param, grad, buffer, options, step == 0);
        torch_sgd_reference(p, grad.to_vector<double>(), buf, options, step == 0);
      }
      // f32: each step rounds a handful of operations on values of magnitude <= ~7.
      const double atol = dtype == DType::f32 ? 2e-6 : 1e-14;
      EXPECT_TRUE(testing::all_close(param, Tensor::from_vector(shape, p), atol, 0))
          << dtype_name(dtype) << " momentum " << options.momentum << " nesterov " << options.nesterov;
      if (options.momentum == 0)
        EXPECT_TRUE(same_bytes(buffer, buffer_before));  // untouched
      else
        EXPECT_TRUE(testing::all_close(buffer, Tensor::from_vector(shape, buf), dtype == DType::f32 ? 1e-4 : 1e-12, 0));
    }
  }
}

// Parameters of the shapes a U-Net holds: a conv weight, its bias, a 1-element tensor, an empty one.
std::vector<Shape> parameter_shapes() {
  return {Shape{32, 3, 3, 3, 4}, Shape{32}, Shape{1}, Shape{0}, Shape{5, 1, 1, 1, 7}};
}

TEST(Sgd, ListStepEqualsSingleStepsAndHonoursScaleAndSkip) {
  const SgdOptions options;
  std::vector<Tensor> params, grads, buffers;
  for (const Shape& shape : parameter_shapes()) {
    params.push_back(testing::random_uniform(shape, DType::f32));
    grads.push_back(testing::random_uniform(shape, DType::f32));
    buffers.push_back(testing::random_uniform(shape, DType::f32));
  }
  auto copies = [](const std::vector<Tensor>& list) {
    std::vector<Tensor> out;
    for (const Tensor& t : list) out.push_back(t.copy_to(cpu_ctx));
    return out;
  };
  std::vector<Tensor> list_params = copies(params), list_buffers = copies(buffers);
  sgd_step(cpu_ctx, list_params, grads, list_buffers, options, false);
  for (std::size_t i = 0; i < params.size(); ++i) {
    Tensor p = params[i].copy_to(cpu_ctx), b = buffers[i].copy_to(cpu_ctx);
    sgd_step(cpu_ctx, p, grads[i], b, options, false);
    EXPECT_TRUE(same_bytes(p, list_params[i])) << i;
    EXPECT_TRUE(same_bytes(b, list_buffers[i])) << i;
  }
  // grad_scale s: the same as stepping with the f32 products grad * s.
  const float s = 0.3f;
  const Tensor grad_scale = Tensor::from_vector(Shape{}, std::vector<float>{s});
  std::vector<Tensor> scaled_params = copies(params), scaled_buffers = copies(buffers), pre_scaled;
  for (const Tensor& g : grads) {
    Tensor product = g.copy_to(cpu_ctx);
    for (std::int64_t k = 0; k < product.numel(); ++k) product.data<float>()[k] *= s;
    pre_scaled.push_back(product);
  }
  sgd_step(cpu_ctx, scaled_params, grads, scaled_buffers, options, false, grad_scale);
  std::vector<Tensor> expected_params = copies(params), expected_buffers = copies(buffers);
  sgd_step(cpu_ctx, expected_params, pre_scaled, expected_buffers, options, false);
  for (std::size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(same_bytes(scaled_params[i], expected_params[i])) << i;
  // A nonzero (or NaN) skip flag writes nothing; a zero flag steps normally.
  for (float flag : {1.0f, NAN, 0.0f}) {
    std::vector<Tensor> p = copies(params), b = copies(buffers);
    sgd_step(cpu_ctx, p, grads, b, options, false, Tensor(), Tensor::from_vector(Shape{}, std::vector<float>{flag}));
    for (std::size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(same_bytes(p[i], flag == 0.0f ? list_params[i] : params[i])) << flag;
      EXPECT_TRUE(same_bytes(b[i], flag == 0.0f ? list_buffers[i] : buffers[i])) << flag;
    }
  }
}

TEST(Sgd, FirstStepEqualsStepFromZeroedBuffers) {
  const SgdOptions options;
  const Shape shape{2, 3, 3, 3, 16};
  const Tensor param = testing::random_uniform(shape, DType::f32), grad = testing::random_uniform(shape, DType::f32);
  Tensor first_param = param.copy_to(cpu_ctx), poisoned = Tensor::empty_cpu(shape, DType::f32);
  testing::poison(poisoned);
  sgd_step(cpu_ctx, first_param, grad, poisoned, options, true);
  Tensor zero_param = param.copy_to(cpu_ctx), zeros = Tensor::empty_cpu(shape, DType::f32);
  fill(cpu_ctx, zeros, 0.0);
  sgd_step(cpu_ctx, zero_param, grad, zeros, options, false);
  EXPECT_TRUE(same_bytes(first_param, zero_param));
  EXPECT_TRUE(same_bytes(poisoned, zeros));
}

TEST(Sgd, AllocatesNothingOnCpuOrMeta) {
  auto meta = Context::meta(Device::CPU);
  for (const Context* ctx : {&cpu_ctx, static_cast<const Context*>(meta.get())}) {
    const bool real = ctx->device() == Device::CPU;
    const Shape shape{4, 3, 3, 3, 2};
    Tensor p = real ? testing::random_uniform(shape, DType::f32) : Tensor::empty(shape, DType::f32, *ctx);
    Tensor g = real ? testing::random_uniform(shape, DType::f32) : Tensor::empty(shape, DType::f32, *ctx);
    Tensor b = real ? testing::random_uniform(shape, DType::f32) : Tensor::empty(shape, DType::f32, *ctx);
    Allocator& allocator = allocator_for(ctx->device());
    const std::size_t base = allocator.stats().current_bytes;
    allocator.reset_peak();
    sgd_step(*ctx, p, g, b, SgdOptions{}, true);
    EXPECT_EQ(allocator.stats().peak_bytes - base, 0u) << device_name(ctx->device());
  }
}

TEST(Sgd, ArgumentErrorsNameArgumentAndValue) {
  const Shape shape{3, 4};
  Tensor p = testing::random_uniform(shape, DType::f32), b = testing::random_uniform(shape, DType::f32);
  const Tensor g = testing::random_uniform(shape, DType::f32);
  const Tensor g64 = testing::random_uniform(shape, DType::f64),
               g_wrong = testing::random_uniform(Shape{4, 3}, DType::f32);
  SgdOptions options;
  EXPECT_ERROR_MENTIONS(sgd_step(cpu_ctx, {p, p}, {g}, {b, b}, options, true),
                        "sgd_step: 2 params, 1 grads and 2 momentum_buffers: the lists must have the same length");
  EXPECT_ERROR_MENTIONS(sgd_step(cpu_ctx, {p, p}, {g, g_wrong}, {b, b}, options, true),
                        "sgd_step: params[1] f32 (3, 4) on CPU, grads[1] f32 (4, 3) on CPU");
  EXPECT_ERROR_MENTIONS(sgd_step(cpu_ctx, p, g64, b, options, true), "sgd_step: on CPU grads[0] f64 (3, 4) on CPU");
  options.lr = -1;
  EXPECT_ERROR_MENTIONS(sgd_step(cpu_ctx, p, g, b, options, true), "sgd_step: lr must be finite and >= 0, got -1");
  options = SgdOptions{};
  options.momentum = 0;
  EXPECT_ERROR_MENTIONS(sgd_step(cpu_ctx, p, g, b, options, true),
                        "sgd_step: nesterov requires momentum > 0, got momentum 0");
  options.momentum = 1.5;
  EXPECT_ERROR_MENTIONS(sgd_step(cpu_ctx, p, g, b, options, true), "sgd_step: momentum must be in [0, 1), got 1.5");
  EXPECT_ERROR_MENTIONS(sgd_step(cpu_ctx, p, g, b, SgdOptions{}, true, g),
                        "sgd_step: grad_scale must be undefined or an f32 tensor of one element");
  auto cuda_meta = Context::meta(Device::CUDA);
  Tensor mp = Tensor::empty(shape, DType::bf16, *cuda_meta), mb = Tensor::empty(shape, DType::f32, *cuda_meta);
  EXPECT_ERROR_MENTIONS(sgd_step(*cuda_meta, mp, mb, mb, SgdOptions{}, true),
                        "sgd_step: params[0] must be one of {f32} on CUDA, got bf16");
}

}  // namespace
}  // namespace nnuc
