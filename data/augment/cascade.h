// The cascade's inputs, spec §7.3 step 14 (and §6.10): the previous stage's segmentation moves into
// the image as one-hot channels, one per foreground label (in the order given), appended after the
// image channels; in training they are perturbed so that the network learns not to trust them:
//   [p 0.4] random binary operator: channels in random order, each with p 0.5: one of {dilation,
//           erosion, closing, opening} (uniform), structuring element the ball (disk when X = 1) of
//           radius r ~ U(1, 8): offset d belongs to it iff |d|^2 <= r^2; voxels the operator adds
//           to a channel are cleared in the other one-hot channels;
//   [p 0.2] remove a random connected component: channels in random order, each with p 0.5: label
//           the channel's components (26-connectivity), pick one uniformly among those smaller than
//           15 % of the patch volume (size < 0.15 X Y Z) and clear it (no refill with another class).
// The CPU implementation (cascade_cpu.cpp) is the specification; the CUDA one (cascade_cuda.cu,
// cascade_components_cuda.cu) computes the same integers, so the two agree exactly.
//
// Morphology (batchgeneratorsv2's binary operators): dilation(m) = {v : some voxel of m lies within
// the ball around v}; erosion(m) = not dilation(not m), where voxels outside the patch belong to
// neither m nor (not m) — so dilation does not grow from outside and erosion does not eat the patch
// border (batchgeneratorsv2 erodes as ~dilate(~m) with zero padding); closing = erosion(dilation),
// opening = dilation(erosion). Both compute the squared distance to the nearest source voxel exactly
// by three separable 1-D minimum passes over the window |d_a| <= floor(r) and compare it with r^2.
// (skimage's ball(r) for a non-integer r samples half-integer offsets; nnuc uses the integer-offset
// ball that the spec defines.)
//
// Draws (host, draw_cascade), each "u" one PhiloxDraws::uniform(); F = number of foreground labels:
//   binary operator:     fire u < 0.4; per channel c = 0..F-1: key u, select u < 0.5,
//                        operator floor(4 u) (dilation, erosion, closing, opening), radius 1 + 7 u
//   component removal:   fire u < 0.2; per channel c = 0..F-1: key u, select u < 0.5, choice u
// Everything is drawn whether or not it fires: a sample always consumes kCascadeUniformsPerSample +
// F kCascadeUniformsPerChannel uniforms. The channels are visited in increasing key (a uniformly
// random order; equal keys by channel index). The component to remove depends on the data, so the
// draw keeps the uniform `choice` and the component is picked after labelling: the channel's
// eligible components in increasing order of their smallest linear voxel index (scipy.ndimage.label's
// numbering) e_0 .. e_{n-1}, the picked one e_k with k = min(floor(choice n), n - 1). CPU and CUDA
// order components the same way, so they remove the same one.
#pragma once

#include <cstdint>
#include <vector>

#include "data/preprocess/crop.h"  // Shape3
#include "kernels/core/context.h"
#include "kernels/core/philox.h"
#include "kernels/core/tensor.h"

namespace nnuc::augment {

using data::Shape3;  // (X, Y, Z) of a patch

// nnU-Net's probabilities and ranges (spec §7.3 step 14).
constexpr double kBinaryOperatorProbability = 0.4;
constexpr double kBinaryOperatorChannelProbability = 0.5;
constexpr double kBinaryOperatorRadiusMin = 1.0, kBinaryOperatorRadiusMax = 8.0;
constexpr double kComponentRemovalProbability = 0.2;
constexpr double kComponentRemovalChannelProbability = 0.5;
constexpr double kComponentRemovalMaxFraction = 0.15;  // of the patch volume, exclusive

constexpr int kCascadeUniformsPerSample = 2;
constexpr int kCascadeUniformsPerChannel = 7;

// CUDA vs CPU: exact (one-hot values, morphology and component removal are integer decisions).
constexpr double kCascadeTolerance = 0.0;

enum class BinaryOperator : std::uint8_t { dilation, erosion, closing, opening };
const char* binary_operator_name(BinaryOperator op);

// One application of the binary operator to one one-hot channel.
struct CascadeMorphology {
  int channel = 0;  // index into foreground_labels
  BinaryOperator op = BinaryOperator::dilation;
  float radius = 1;  // ball radius, U(1, 8)
};

// One component removal on one one-hot channel.
struct CascadeRemoval {
  int channel = 0;    // index into foreground_labels
  double choice = 0;  // U[0, 1): picks the component after labelling (see above)
};

// Step 14's draws for one sample: what fires, already in application order.
struct CascadeParams {
  bool binary_operator = false;               // the [p 0.4] transform fired
  std::vector<CascadeMorphology> morphology;  // its selected channels, in visiting order
  bool component_removal = false;             // the [p 0.2] transform fired
  std::vector<CascadeRemoval> removals;       // its selected channels, in visiting order
};

// draw_cascade: step 14's draws for one sample with `foreground_labels` one-hot channels.
// requires: foreground_labels >= 1.
// ensures:  consumes exactly kCascadeUniformsPerSample + foreground_labels * kCascadeUniformsPerChannel
//           uniforms; morphology / removals are empty when their transform does not fire.
CascadeParams draw_cascade(PhiloxDraws& draws, int foreground_labels);

// cascade_inputs: out[b, c] = data[b, c] for c < C; out[b, C + f] = 1 where previous[b, 0] ==
// foreground_labels[f], else 0; then, with params (training), sample b's perturbations params[b]:
// first every morphology entry in order, then every removal in order.
// requires: data f32 (B, C, X, Y, Z), C >= 0; previous i16 (B, 1, X, Y, Z); both on ctx's device;
//           foreground_labels non-empty; params null (validation) or B entries whose channels lie in
//           [0, F); X Y Z < 2^31.
// ensures:  returns a new f32 (B, C + F, X, Y, Z) on ctx's device (values 0 / 1 in the new channels);
//           the inputs are not modified. On Meta, allocates the output and the workspace only.
Tensor cascade_inputs(const Context& ctx, const Tensor& data, const Tensor& previous,
                      const std::vector<int>& foreground_labels, const std::vector<CascadeParams>* params);

// The scratch cascade_inputs borrows for the perturbations of a (X, Y, Z) patch on `device` (CPU:
// three byte masks and an int32 label volume; CUDA: three byte masks, two int32 volumes and one
// count per 1024 voxels).
std::size_t cascade_workspace_bytes(Device device, const Shape3& patch);

// component_roots: roots[v] = the smallest linear index of v's connected component in mask != 0
// (26-connectivity), -1 where mask[v] == 0. The canonical component identity both implementations
// share; exposed for tests.
// requires: mask f32 (X, Y, Z) on ctx's device; X Y Z < 2^31.  ensures: returns i32 (X, Y, Z).
Tensor component_roots(const Context& ctx, const Tensor& mask);

// The component to remove among `eligible` (increasing smallest voxel index) for a draw's `choice`.
// requires: eligible >= 1.
NNUC_HD std::int64_t removal_index(double choice, std::int64_t eligible) {
  const auto k = static_cast<std::int64_t>(choice * static_cast<double>(eligible));
  return k < eligible - 1 ? k : eligible - 1;
}

namespace cpu {
void cascade_inputs(const Tensor& data, const Tensor& previous, const std::vector<int>& foreground_labels,
                    const std::vector<CascadeParams>* params, Tensor& workspace, Tensor& out);
void component_roots(const Tensor& mask, Tensor& roots);
}  // namespace cpu

namespace cuda {
void cascade_inputs(const Context& ctx, const Tensor& data, const Tensor& previous,
                    const std::vector<int>& foreground_labels, const std::vector<CascadeParams>* params,
                    Tensor& workspace, Tensor& out);
void component_roots(const Context& ctx, const Tensor& mask, Tensor& roots);
}  // namespace cuda

}  // namespace nnuc::augment
