// kernels/norm/leaky_relu.h on the CPU: forward and backward against a double-precision reference,
// a central-difference gradcheck in f64, Meta-vs-CPU allocator peaks, and argument errors.
#include "kernels/norm/leaky_relu.h"

#include <cmath>
#include <string>
#include <vector>

#include "kernels/core/allocator.h"
#include "kernels/norm/instance_norm.h"
#include "tests/support/test_support.h"

namespace nnuc {
namespace {

const std::vector<Shape> kShapes = {Shape{1, 3, 5, 7, 3}, Shape{2, 1, 9, 11, 5}, Shape{1155}, Shape{4, 33}};

std::vector<double> reference(const std::vector<double>& in, const std::vector<double>& passed, double slope) {
  std::vector<double> out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = in[i] > 0 ? passed[i] : slope * passed[i];
  return out;
}

TEST(LeakyReluCpu, ForwardAndBackwardMatchReference) {
  for (DType dtype : {DType::f32, DType::f64})
    for (double slope : {kLeakyReluSlope, 0.0, 1.0, 0.3})
      for (const Shape& shape : kShapes) {
        SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + shape.str() + " slope " + std::to_string(slope));
        const Tensor x = testing::random_uniform(shape, dtype);
        const Tensor dy = testing::random_uniform(shape, dtype);
        const Tensor y = leaky_relu_forward(Context::cpu(), x, slope);
        const std::vector<double> expected_y = reference(x.to_vector<double>(), x.to_vector<double>(), slope);
        // One rounding of slope · x in the tensor's dtype (slope itself is rounded to it first).
        const double tol = dtype == DType::f64 ? 1e-15 : 1e-7;
        EXPECT_EQ(y.dtype(), dtype);
        EXPECT_TRUE(testing::all_close(y, Tensor::from_vector(shape, expected_y), 0, tol));
        const Tensor dx = leaky_relu_backward(Context::cpu(), dy, y, slope);
        const std::vector<double> expected_dx = reference(x.to_vector<double>(), dy.to_vector<double>(), slope);
        EXPECT_TRUE(testing::all_close(dx, Tensor::from_vector(shape, expected_dx), 0, tol));
      }
}

TEST(LeakyReluCpu, GradcheckCentralDifferences) {
  const double step = 1e-6;
  std::vector<double> values = testing::random_uniform(Shape{3, 5, 7}, DType::f64).to_vector<double>();
  for (double& value : values)
    if (std::fabs(value) < 1e-3) value += 2e-3;  // keep finite differences off the kink at 0
  const Tensor x = Tensor::from_vector(Shape{3, 5, 7}, values);
  const Tensor weight = testing::random_uniform(x.shape(), DType::f64);
  const std::vector<double> w = weight.to_vector<double>();
  auto loss = [&](const std::vector<double>& at) {
    const std::vector<double> y =
        leaky_relu_forward(Context::cpu(), Tensor::from_vector(x.shape(), at), kLeakyReluSlope).to_vector<double>();
    double sum = 0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += w[i] * y[i];
    return sum;
  };
  std::vector<double> numerical(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::vector<double> plus = values, minus = values;
    plus[i] += step;
    minus[i] -= step;
    numerical[i] = (loss(plus) - loss(minus)) / (2 * step);
  }
  const Tensor y = leaky_relu_forward(Context::cpu(), x, kLeakyReluSlope);
  const Tensor dx = leaky_relu_backward(Context::cpu(), weight, y, kLeakyReluSlope);
  EXPECT_TRUE(testing::all_close(dx, Tensor::from_vector(x.shape(), numerical), 1e-8, 1e-6));
}

TEST(LeakyReluCpu, MetaPeakEqualsCpuPeak) {
  auto meta = Context::meta(Device::CPU);
  const Shape shape{2, 3, 17, 19, 8};
  const Tensor x = testing::random_uniform(shape, DType::f32), dy = testing::random_uniform(shape, DType::f32);
  const Tensor meta_x = Tensor::empty(shape, DType::f32, *meta), meta_dy = Tensor::empty(shape, DType::f32, *meta);
  const std::size_t expected = rounded_allocation_bytes(static_cast<std::size_t>(shape.numel()) * 4);
  EXPECT_EQ(testing::peak_bytes_of(Device::CPU, [&] { leaky_relu_forward(Context::cpu(), x, 0.01); }), expected);
  EXPECT_EQ(testing::peak_bytes_of(Device::Meta, [&] { leaky_relu_forward(*meta, meta_x, 0.01); }), expected);
  EXPECT_EQ(testing::peak_bytes_of(Device::CPU, [&] { leaky_relu_backward(Context::cpu(), dy, x, 0.01); }), expected);
  EXPECT_EQ(testing::peak_bytes_of(Device::Meta, [&] { leaky_relu_backward(*meta, meta_dy, meta_x, 0.01); }), expected);
  EXPECT_EQ(leaky_relu_forward(*meta, meta_x, 0.01).device(), Device::Meta);
}

using testing::expect_invalid;

TEST(LeakyReluCpu, RejectsBadArguments) {
  const Context& cpu = Context::cpu();
  const Tensor x = testing::random_uniform(Shape{4, 5}, DType::f32);
  expect_invalid([&] { leaky_relu_forward(cpu, x, -0.1); }, "slope must be finite and >= 0");
  expect_invalid([&] { leaky_relu_forward(cpu, x, NAN); }, "slope must be finite and >= 0");
  expect_invalid([&] { leaky_relu_forward(cpu, Tensor::empty_cpu(Shape{4}, DType::bf16), 0.01); },
                 "x must be f32 or f64 on the CPU");
  expect_invalid([&] { leaky_relu_forward(cpu, Tensor(), 0.01); }, "x is an undefined tensor");
  expect_invalid(
      [&] {
        leaky_relu_backward(cpu, testing::random_uniform(Shape{4, 6}, DType::f32), x, 0.01);
      },
      "must have the same shape");
  expect_invalid([&] { leaky_relu_backward(cpu, testing::as_f64(x), x, 0.01); }, "must have the same dtype");
  auto meta = Context::meta(Device::CPU);
  expect_invalid([&] { leaky_relu_forward(*meta, x, 0.01); }, "x is on CPU but the op runs on Meta");
}

}  // namespace
}  // namespace nnuc
