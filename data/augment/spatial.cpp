// Step 2's draws, its matrix, and the public entry point of spatial_transform: check at the door,
// allocate, dispatch.
#include "data/augment/spatial.h"

#include <cmath>

#include "kernels/elementwise/dispatch.h"

namespace nnuc::augment {

SpatialParams draw_spatial(PhiloxDraws& draws, const std::array<double, 3>& rotation, bool planar) {
  for (double range : rotation)
    NNUC_CHECK(std::isfinite(range) && range >= 0, "draw_spatial: rotation ranges must be finite angles >= 0, got ",
               range);
  SpatialParams params;
  params.rotated = draws.bernoulli(kRotationProbability);
  params.scaled = draws.bernoulli(kScalingProbability);
  std::array<double, 3> angles{};
  for (int axis = 0; axis < 3; ++axis) angles[axis] = draws.uniform(-rotation[axis], rotation[axis]);
  const double scale = draws.uniform(kScaleLow, kScaleHigh);
  if (params.rotated) params.angles = planar ? std::array<double, 3>{angles[0], 0, 0} : angles;
  if (params.scaled) params.scale = scale;
  return params;
}

namespace {
using Matrix = std::array<double, 9>;
Matrix multiply(const Matrix& a, const Matrix& b) {
  Matrix out{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) out[3 * i + j] += a[3 * i + k] * b[3 * k + j];
  return out;
}
}  // namespace

std::array<double, 9> spatial_matrix(const SpatialParams& params, bool planar) {
  const double s = params.scaled ? params.scale : 1.0;
  const auto [a, b, g] = params.rotated ? params.angles : std::array<double, 3>{0, 0, 0};
  if (planar) {
    const double c = std::cos(a), n = std::sin(a);
    return {1, 0, 0, 0, c * s, -n * s, 0, n * s, c * s};  // [[1, 0], [0, R(α)·diag(s, s)]]
  }
  const Matrix rx{1, 0, 0, 0, std::cos(a), -std::sin(a), 0, std::sin(a), std::cos(a)};
  const Matrix ry{std::cos(b), 0, std::sin(b), 0, 1, 0, -std::sin(b), 0, std::cos(b)};
  const Matrix rz{std::cos(g), -std::sin(g), 0, std::sin(g), std::cos(g), 0, 0, 0, 1};
  const Matrix scale{s, 0, 0, 0, s, 0, 0, 0, s};
  return multiply(multiply(multiply(rz, ry), rx), scale);
}

SpatialSample spatial_sample(const SpatialParams& params, const std::array<std::int64_t, 3>& input,
                             const std::array<std::int64_t, 3>& patch, bool planar) {
  SpatialSample sample{};
  const std::array<double, 9> matrix = spatial_matrix(params, planar);
  for (int i = 0; i < 9; ++i) sample.matrix[i] = static_cast<float>(matrix[i]);
  for (int d = 0; d < 3; ++d) {
    sample.centre_in[d] = static_cast<float>(input[d] - 1) * 0.5f;  // exact: half-integers below 2^23
    sample.centre_out[d] = static_cast<float>(patch[d] - 1) * 0.5f;
    sample.start[d] = static_cast<std::int32_t>(input[d] / 2 - patch[d] / 2);
  }
  sample.affine = params.affine() ? 1 : 0;
  return sample;
}

SpatialResult spatial_transform(const Context& ctx, const Tensor& data, const Tensor& seg,
                                const std::vector<SpatialParams>& params, const std::array<std::int64_t, 3>& patch,
                                bool planar) {
  nnuc::detail::check_operand(data, ctx, "spatial_transform", "data");
  nnuc::detail::check_operand(seg, ctx, "spatial_transform", "seg");
  check_dtype(data, DType::f32, "spatial_transform: data");
  check_dtype(seg, DType::i16, "spatial_transform: seg");
  NNUC_CHECK(data.rank() == 5 && data.dim(0) >= 1 && data.dim(1) >= 1,
             "spatial_transform: data must be (B, C, L0, L1, L2) with B, C >= 1, got ", data.describe());
  NNUC_CHECK(seg.rank() == 5 && seg.dim(0) == data.dim(0) && seg.dim(1) >= 1 && seg.dim(2) == data.dim(2) &&
                 seg.dim(3) == data.dim(3) && seg.dim(4) == data.dim(4),
             "spatial_transform: seg must be (B, S, L0, L1, L2) like data ", data.describe(), ", got ", seg.describe());
  NNUC_CHECK(params.size() == static_cast<std::size_t>(data.dim(0)), "spatial_transform: ", params.size(),
             " parameter sets for a batch of ", data.dim(0));
  constexpr std::int64_t kMaxExtent = std::int64_t{1} << 23;  // positions stay exact in f32
  const std::array<std::int64_t, 3> input{data.dim(2), data.dim(3), data.dim(4)};
  for (int d = 0; d < 3; ++d) {
    NNUC_CHECK(patch[d] >= 1 && patch[d] < kMaxExtent, "spatial_transform: patch extent ", patch[d], " on axis ", d,
               " must be in [1, 2^23)");
    NNUC_CHECK(input[d] >= 1 && input[d] < kMaxExtent, "spatial_transform: input extent ", input[d], " on axis ", d,
               " must be in [1, 2^23)");
  }
  NNUC_CHECK(!planar || input[0] == patch[0], "spatial_transform: a planar transform keeps axis 0, but the input has ",
             input[0], " and the patch ", patch[0]);
  Tensor data_out = Tensor::empty(Shape{data.dim(0), data.dim(1), patch[0], patch[1], patch[2]}, DType::f32, ctx);
  Tensor seg_out = Tensor::empty(Shape{seg.dim(0), seg.dim(1), patch[0], patch[1], patch[2]}, DType::i16, ctx);
  std::vector<SpatialSample> samples;
  samples.reserve(params.size());
  for (const SpatialParams& p : params) samples.push_back(spatial_sample(p, input, patch, planar));
  switch (ctx.device()) {
    case Device::CPU: cpu::spatial_transform(data, seg, samples, planar, data_out, seg_out); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::spatial_transform(ctx, data, seg, samples, planar, data_out, seg_out)); break;
    case Device::Meta: break;
  }
  return {data_out, seg_out};
}

}  // namespace nnuc::augment
