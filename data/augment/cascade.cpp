// Step 14's draws, and the public entry points: check at the door, allocate, dispatch.
#include "data/augment/cascade.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "data/augment/cascade_internal.h"
#include "kernels/elementwise/dispatch.h"

namespace nnuc::augment {

const char* binary_operator_name(BinaryOperator op) {
  switch (op) {
    case BinaryOperator::dilation: return "dilation";
    case BinaryOperator::erosion: return "erosion";
    case BinaryOperator::closing: return "closing";
    case BinaryOperator::opening: return "opening";
  }
  return "?";
}

CascadeParams draw_cascade(PhiloxDraws& draws, int foreground_labels) {
  NNUC_CHECK(foreground_labels >= 1, "draw_cascade: foreground_labels must be >= 1, got ", foreground_labels);
  const auto channels = static_cast<std::size_t>(foreground_labels);
  // The channels in increasing key; stable, so equal keys keep channel order.
  const auto visiting_order = [channels](const std::vector<double>& keys) {
    std::vector<int> order(channels);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return keys[static_cast<std::size_t>(a)] < keys[static_cast<std::size_t>(b)];
    });
    return order;
  };

  CascadeParams params;
  params.binary_operator = draws.uniform() < kBinaryOperatorProbability;
  std::vector<double> keys(channels);
  std::vector<CascadeMorphology> morphology(channels);
  std::vector<bool> selected(channels);
  for (std::size_t c = 0; c < channels; ++c) {
    keys[c] = draws.uniform();
    selected[c] = draws.uniform() < kBinaryOperatorChannelProbability;
    morphology[c].channel = static_cast<int>(c);
    morphology[c].op = static_cast<BinaryOperator>(std::min(3, static_cast<int>(draws.uniform() * 4.0)));
    morphology[c].radius = static_cast<float>(draws.uniform(kBinaryOperatorRadiusMin, kBinaryOperatorRadiusMax));
  }
  if (params.binary_operator)
    for (int c : visiting_order(keys))
      if (selected[static_cast<std::size_t>(c)]) params.morphology.push_back(morphology[static_cast<std::size_t>(c)]);

  params.component_removal = draws.uniform() < kComponentRemovalProbability;
  std::vector<CascadeRemoval> removals(channels);
  for (std::size_t c = 0; c < channels; ++c) {
    keys[c] = draws.uniform();
    selected[c] = draws.uniform() < kComponentRemovalChannelProbability;
    removals[c] = CascadeRemoval{static_cast<int>(c), draws.uniform()};
  }
  if (params.component_removal)
    for (int c : visiting_order(keys))
      if (selected[static_cast<std::size_t>(c)]) params.removals.push_back(removals[static_cast<std::size_t>(c)]);
  return params;
}

namespace detail {

Ball ball_of(float radius) {
  const double r = static_cast<double>(radius);
  Ball ball;
  ball.squared = static_cast<int>(std::floor(r * r));
  while ((ball.reach + 1) * (ball.reach + 1) <= ball.squared) ++ball.reach;
  return ball;
}

WorkspaceLayout workspace_layout(Device device, std::int64_t voxels) {
  const auto aligned = [](std::size_t bytes) { return (bytes + 255) / 256 * 256; };
  const auto bytes = static_cast<std::size_t>(voxels);
  WorkspaceLayout layout;
  std::size_t at = 0;
  layout.distance_a = at;
  at += aligned(bytes);
  layout.distance_b = at;
  at += aligned(bytes);
  layout.mask = at;
  at += aligned(bytes);
  layout.labels = at;
  at += aligned(bytes * sizeof(std::int32_t));
  if (device == Device::CUDA) {
    layout.sizes = at;
    at += aligned(bytes * sizeof(std::int32_t));
    layout.tiles = at;
    at += aligned(static_cast<std::size_t>(component_tiles(voxels) + 1) * sizeof(std::int32_t));
  }
  layout.total = at;
  return layout;
}

}  // namespace detail

std::size_t cascade_workspace_bytes(Device device, const Shape3& patch) {
  return detail::workspace_layout(device, patch[0] * patch[1] * patch[2]).total;
}

namespace {

bool perturbs(const std::vector<CascadeParams>* params) {
  if (params == nullptr) return false;
  for (const CascadeParams& p : *params)
    if (!p.morphology.empty() || !p.removals.empty()) return true;
  return false;
}

}  // namespace

Tensor cascade_inputs(const Context& ctx, const Tensor& data, const Tensor& previous,
                      const std::vector<int>& foreground_labels, const std::vector<CascadeParams>* params) {
  nnuc::detail::check_operand(data, ctx, "cascade_inputs", "data");
  nnuc::detail::check_operand(previous, ctx, "cascade_inputs", "previous");
  check_dtype(data, DType::f32, "cascade_inputs: data");
  check_dtype(previous, DType::i16, "cascade_inputs: previous");
  NNUC_CHECK(data.rank() == 5, "cascade_inputs: data must be (B, C, X, Y, Z), got ", data.describe());
  const std::int64_t batch = data.dim(0), channels = data.dim(1);
  const Shape3 patch{data.dim(2), data.dim(3), data.dim(4)};
  const Shape previous_shape{batch, 1, patch[0], patch[1], patch[2]};
  NNUC_CHECK(previous.shape() == previous_shape, "cascade_inputs: previous must be ", previous_shape.str(),
             " (one previous-stage segmentation per sample of data ", data.describe(), "), got ", previous.describe());
  NNUC_CHECK(!foreground_labels.empty(), "cascade_inputs: foreground_labels is empty (no cascade channels)");
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  NNUC_CHECK(voxels < (std::int64_t{1} << 31) - 1, "cascade_inputs: a patch of ", voxels,
             " voxels exceeds the int32 voxel indices");
  const int F = static_cast<int>(foreground_labels.size());
  if (params != nullptr) {
    NNUC_CHECK(static_cast<std::int64_t>(params->size()) == batch, "cascade_inputs: ", params->size(),
               " CascadeParams for a batch of ", batch);
    for (const CascadeParams& p : *params) {
      for (const CascadeMorphology& m : p.morphology)
        NNUC_CHECK(m.channel >= 0 && m.channel < F && m.radius >= 0 && m.radius <= 10,
                   "cascade_inputs: morphology on channel ", m.channel, " with radius ", m.radius,
                   ", expected a channel in [0, ", F, ") and a radius in [0, 10]");
      for (const CascadeRemoval& r : p.removals)
        NNUC_CHECK(r.channel >= 0 && r.channel < F && r.choice >= 0 && r.choice < 1,
                   "cascade_inputs: component removal on channel ", r.channel, " with choice ", r.choice,
                   ", expected a channel in [0, ", F, ") and a choice in [0, 1)");
    }
  }
  Tensor out = Tensor::empty(Shape{batch, channels + F, patch[0], patch[1], patch[2]}, DType::f32, ctx);
  Tensor workspace;
  if (perturbs(params))
    workspace =
        Tensor::empty(Shape{static_cast<std::int64_t>(cascade_workspace_bytes(ctx.models(), patch))}, DType::u8, ctx);
  switch (ctx.device()) {
    case Device::CPU: cpu::cascade_inputs(data, previous, foreground_labels, params, workspace, out); break;
    case Device::CUDA:
      NNUC_IF_CUDA(cuda::cascade_inputs(ctx, data, previous, foreground_labels, params, workspace, out));
      break;
    case Device::Meta: break;
  }
  return out;
}

Tensor component_roots(const Context& ctx, const Tensor& mask) {
  nnuc::detail::check_operand(mask, ctx, "component_roots", "mask");
  check_dtype(mask, DType::f32, "component_roots: mask");
  NNUC_CHECK(mask.rank() == 3 && mask.numel() < (std::int64_t{1} << 31) - 1,
             "component_roots: mask must be (X, Y, Z) with fewer than 2^31 voxels, got ", mask.describe());
  Tensor roots = Tensor::empty(mask.shape(), DType::i32, ctx);
  switch (ctx.device()) {
    case Device::CPU: cpu::component_roots(mask, roots); break;
    case Device::CUDA: NNUC_IF_CUDA(cuda::component_roots(ctx, mask, roots)); break;
    case Device::Meta: break;
  }
  return roots;
}

}  // namespace nnuc::augment
