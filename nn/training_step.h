// One training step of nnU-Net — the same code for real training and for measure mode (a Meta
// Context): zero_grad → forward → deep-supervision targets → loss → backward → clip → SGD update.
#pragma once

#include <cstdint>
#include <functional>

#include "nn/loss.h"
#include "nn/optimizer.h"
#include "nn/unet.h"

namespace nnuc::nn {

struct StepOutcome {
  Var loss;  // (1) on the step's device; read it (a host sync) only when needed
};

// requires: input (N, D, H, W, C_in) in the activation dtype (f32/f64 on CPU, f32/bf16 on CUDA) and
//   labels (i16 (N, D, H, W, 1), or u8 multi-hot for regions) on the network's device.
// ensures: parameters updated by one SGD step with learning rate lr; gradients are left in place
//   (dropped by the next step's zero_grad); the tape is empty.
//   `after_phase`, when given, is called after "forward" (loss computed) and "backward" (gradients set).
StepOutcome training_step(const Context& ctx, UNet& network, SGD& optimizer, const Tensor& input, const Tensor& labels,
                          const LossConfig& loss, double lr,
                          const std::function<void(const char* phase)>& after_phase = nullptr);

// Peak memory of a training step and where it goes. All values are allocator bytes (each buffer
// rounded to 512 bytes) on the modelled device.
struct TrainingStepMemory {
  std::uint64_t peak_bytes = 0;         // parameters + optimizer state + the step's highest working set
  std::uint64_t parameters = 0;         // master weights (f32)
  std::uint64_t optimizer_state = 0;    // momentum buffers + skip counter
  std::uint64_t batch = 0;              // input patch + labels
  std::uint64_t saved_activations = 0;  // held at the end of forward + loss (what backward needs)
  std::uint64_t gradients = 0;          // one gradient per parameter, alive at the end of backward
  std::uint64_t transient_at_peak = 0;  // peak − parameters − optimizer state − batch − saved activations
  std::uint64_t workspace_cap = 0;      // cap under which convolution workspaces were chosen (CUDA)
  std::uint64_t fixed_overhead = 0;     // per-device constant not seen by the allocator (CUDA context, handles)
  std::uint64_t device_total() const { return peak_bytes + fixed_overhead; }
};

// The CUDA context, the cuDNN handle and the kernels' modules take device memory outside
// the allocator. The planner's default, a stated estimate that no GPU has confirmed yet: the context
// of a current driver with lazy module loading, the cuDNN handle and the modules of
// the kernels one step launches. `nnuc memory --measure-cuda` measures it on a GPU
// (measure_cuda_fixed_overhead, kernels/core/context.h); tests/gpu/run_gpu_checks.sh records that
// measurement in bench/results/ and StepMemoryGpu checks the constant against it.
constexpr std::uint64_t kCudaFixedOverheadBytes = std::uint64_t{640} << 20;

struct TrainingStepSpec {
  UNetConfig network;
  int batch_size = 2;
  Triple patch_size{128, 128, 128};
  DType activations = DType::bf16;  // bf16 (mixed) or f32 on CUDA; f32 on CPU
  Device device = Device::CUDA;     // the device being modelled
  LossConfig loss;
  std::size_t workspace_cap = kDefaultWorkspaceCap;
};

// Runs one training step in measure mode (Meta context modelling spec.device) and returns its
// peak memory with the breakdown. Allocates nothing real.
TrainingStepMemory predict_training_step_memory(const TrainingStepSpec& spec);

}  // namespace nnuc::nn
