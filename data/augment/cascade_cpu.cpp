// CPU cascade inputs: one-hot channels, exact-distance ball morphology, component removal through
// data/components' labelling. The specification the CUDA implementation is tested against.
#include <algorithm>
#include <cstring>

#include "data/augment/cascade.h"
#include "data/augment/cascade_internal.h"
#include "data/components/connected_components.h"

namespace nnuc::augment::cpu {

namespace {

using augment::detail::Ball;
using augment::detail::kFarDistance;

constexpr std::int64_t kParallelVoxels = std::int64_t{1} << 16;

// distance[v] = 0 where the source holds (value != 0, or == 0 when inverted), else far.
template <typename T>
void seed_distance(const T* source, bool invert, std::int64_t voxels, std::uint8_t* distance) {
#pragma omp parallel for schedule(static) if (voxels >= kParallelVoxels)
  for (std::int64_t v = 0; v < voxels; ++v)
    distance[v] = ((source[v] != T(0)) != invert) ? std::uint8_t{0} : kFarDistance;
}

// out[v] = min(far, min over |k| <= reach, v + k e_axis inside: in[v + k e_axis] + k^2).
void min_pass(const std::uint8_t* in, std::uint8_t* out, const Shape3& patch, int axis, int reach) {
  const std::int64_t stride = axis == 0 ? patch[1] * patch[2] : axis == 1 ? patch[2] : 1;
  const std::int64_t length = patch[static_cast<std::size_t>(axis)];
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
#pragma omp parallel for schedule(static) if (voxels >= kParallelVoxels)
  for (std::int64_t v = 0; v < voxels; ++v) {
    const std::int64_t position = v / stride % length;
    const std::int64_t low = std::max<std::int64_t>(-reach, -position);
    const std::int64_t high = std::min<std::int64_t>(reach, length - 1 - position);
    int best = kFarDistance;
    for (std::int64_t k = low; k <= high; ++k)
      best = std::min(best, static_cast<int>(in[v + k * stride]) + static_cast<int>(k * k));
    out[v] = static_cast<std::uint8_t>(best);
  }
}

// result = dilation (erode = false) or erosion (erode = true) of {source != 0} by the ball.
// `result` may be the source (it is read before it is written).
template <typename T>
void ball_operator(const T* source, bool erode, const Ball& ball, const Shape3& patch, std::uint8_t* distance_a,
                   std::uint8_t* distance_b, std::uint8_t* result) {
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  seed_distance(source, erode, voxels, distance_a);
  min_pass(distance_a, distance_b, patch, 0, ball.reach);
  min_pass(distance_b, distance_a, patch, 1, ball.reach);
  min_pass(distance_a, distance_b, patch, 2, ball.reach);
#pragma omp parallel for schedule(static) if (voxels >= kParallelVoxels)
  for (std::int64_t v = 0; v < voxels; ++v) {
    const bool near = distance_b[v] <= ball.squared;
    result[v] = (erode ? !near : near) ? 1 : 0;
  }
}

struct Scratch {
  std::uint8_t* distance_a;
  std::uint8_t* distance_b;
  std::uint8_t* mask;
  std::int32_t* labels;
};

// Applies one morphology entry to channel `target` of one sample's one-hot block (F channels).
void apply_morphology(const CascadeMorphology& m, float* one_hot, int F, const Shape3& patch, const Scratch& s) {
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  float* channel = one_hot + m.channel * voxels;
  const Ball ball = augment::detail::ball_of(m.radius);
  switch (m.op) {
    case BinaryOperator::dilation:
      ball_operator(channel, false, ball, patch, s.distance_a, s.distance_b, s.mask);
      break;
    case BinaryOperator::erosion: ball_operator(channel, true, ball, patch, s.distance_a, s.distance_b, s.mask); break;
    case BinaryOperator::closing:
      ball_operator(channel, false, ball, patch, s.distance_a, s.distance_b, s.mask);
      ball_operator(s.mask, true, ball, patch, s.distance_a, s.distance_b, s.mask);
      break;
    case BinaryOperator::opening:
      ball_operator(channel, true, ball, patch, s.distance_a, s.distance_b, s.mask);
      ball_operator(s.mask, false, ball, patch, s.distance_a, s.distance_b, s.mask);
      break;
  }
#pragma omp parallel for schedule(static) if (voxels >= kParallelVoxels)
  for (std::int64_t v = 0; v < voxels; ++v) {
    const bool result = s.mask[v] != 0;
    if (result && channel[v] == 0.0f)  // added by the operator: no other class keeps this voxel
      for (int other = 0; other < F; ++other)
        if (other != m.channel) one_hot[other * voxels + v] = 0.0f;
    channel[v] = result ? 1.0f : 0.0f;
  }
}

// Clears the eligible component `removal.choice` picks (cascade.h) from its channel.
void apply_removal(const CascadeRemoval& removal, float* one_hot, const Shape3& patch, const Scratch& s) {
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  float* channel = one_hot + removal.channel * voxels;
  bool any = false;
  for (std::int64_t v = 0; v < voxels; ++v) {
    s.mask[v] = channel[v] != 0.0f ? 1 : 0;
    any = any || s.mask[v] != 0;
  }
  if (!any) return;
  const std::int32_t count = data::label_components(s.mask, patch, data::Connectivity::full, s.labels);
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(count) + 1, 0);
  for (std::int64_t v = 0; v < voxels; ++v) ++sizes[static_cast<std::size_t>(s.labels[v])];
  const double limit = kComponentRemovalMaxFraction * static_cast<double>(voxels);
  std::vector<std::int32_t> eligible;  // in label order = increasing smallest voxel index
  for (std::int32_t label = 1; label <= count; ++label)
    if (static_cast<double>(sizes[static_cast<std::size_t>(label)]) < limit) eligible.push_back(label);
  if (eligible.empty()) return;
  const std::int32_t target =
      eligible[static_cast<std::size_t>(removal_index(removal.choice, static_cast<std::int64_t>(eligible.size())))];
  for (std::int64_t v = 0; v < voxels; ++v)
    if (s.labels[v] == target) channel[v] = 0.0f;
}

}  // namespace

void cascade_inputs(const Tensor& data, const Tensor& previous, const std::vector<int>& foreground_labels,
                    const std::vector<CascadeParams>* params, Tensor& workspace, Tensor& out) {
  const std::int64_t batch = data.dim(0), C = data.dim(1);
  const Shape3 patch{data.dim(2), data.dim(3), data.dim(4)};
  const std::int64_t voxels = patch[0] * patch[1] * patch[2];
  const int F = static_cast<int>(foreground_labels.size());
  const float* image = data.data<float>();
  const std::int16_t* segmentation = previous.data<std::int16_t>();
  float* result = out.data<float>();
  for (std::int64_t b = 0; b < batch; ++b) {
    float* sample = result + b * (C + F) * voxels;
    if (C > 0) std::memcpy(sample, image + b * C * voxels, static_cast<std::size_t>(C * voxels) * sizeof(float));
    const std::int16_t* labels = segmentation + b * voxels;
    for (int f = 0; f < F; ++f) {
      float* channel = sample + (C + f) * voxels;
      const int label = foreground_labels[static_cast<std::size_t>(f)];
#pragma omp parallel for schedule(static) if (voxels >= kParallelVoxels)
      for (std::int64_t v = 0; v < voxels; ++v) channel[v] = labels[v] == label ? 1.0f : 0.0f;
    }
  }
  if (!workspace.defined()) return;  // validation, or nothing fired
  const augment::detail::WorkspaceLayout layout = augment::detail::workspace_layout(Device::CPU, voxels);
  auto* base = static_cast<std::uint8_t*>(workspace.raw());
  const Scratch scratch{base + layout.distance_a, base + layout.distance_b, base + layout.mask,
                        reinterpret_cast<std::int32_t*>(base + layout.labels)};
  for (std::int64_t b = 0; b < batch; ++b) {
    const CascadeParams& p = (*params)[static_cast<std::size_t>(b)];
    float* one_hot = result + (b * (C + F) + C) * voxels;
    for (const CascadeMorphology& m : p.morphology) apply_morphology(m, one_hot, F, patch, scratch);
    for (const CascadeRemoval& r : p.removals) apply_removal(r, one_hot, patch, scratch);
  }
}

void component_roots(const Tensor& mask, Tensor& roots) {
  const Shape3 patch{mask.dim(0), mask.dim(1), mask.dim(2)};
  const std::int64_t voxels = mask.numel();
  const float* values = mask.data<float>();
  std::vector<std::uint8_t> binary(static_cast<std::size_t>(voxels));
  for (std::int64_t v = 0; v < voxels; ++v) binary[static_cast<std::size_t>(v)] = values[v] != 0.0f ? 1 : 0;
  const data::ComponentLabels components = data::label_components(binary, patch, data::Connectivity::full);
  std::vector<std::int32_t> first(static_cast<std::size_t>(components.count) + 1, -1);
  std::int32_t* out = roots.data<std::int32_t>();
  for (std::int64_t v = 0; v < voxels; ++v) {
    const std::int32_t label = components.labels[static_cast<std::size_t>(v)];
    if (label != 0 && first[static_cast<std::size_t>(label)] < 0)
      first[static_cast<std::size_t>(label)] = static_cast<std::int32_t>(v);
    out[v] = label == 0 ? -1 : first[static_cast<std::size_t>(label)];
  }
}

}  // namespace nnuc::augment::cpu
