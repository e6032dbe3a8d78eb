#include "nn/training_step.h"

#include <string>

#include "kernels/core/allocator.h"
#include "kernels/core/nvtx.h"

namespace nnuc::nn {

StepOutcome training_step(const Context& ctx, UNet& network, SGD& optimizer, const Tensor& input, const Tensor& labels,
                          const LossConfig& loss, double lr,
                          const std::function<void(const char* phase)>& after_phase) {
  NNUC_RANGE("training_step");
  optimizer.zero_grad();
  Tape tape(ctx);
  StepOutcome outcome;
  {
    NNUC_RANGE("forward");
    std::vector<Var> outputs = network.forward(tape, Var(input, false));
    std::vector<Shape> shapes;
    for (const Var& output : outputs) shapes.push_back(output.shape());
    const std::vector<Tensor> targets = deep_supervision_targets(ctx, labels, shapes);
    outcome.loss = deep_supervision_loss(tape, outputs, targets, loss);
  }
  if (after_phase) after_phase("forward");
  tape.backward(outcome.loss);
  if (after_phase) after_phase("backward");
  optimizer.step(lr);
  return outcome;
}

namespace {
std::uint64_t held(Allocator& allocator) { return allocator.stats().current_bytes; }
}  // namespace

TrainingStepMemory predict_training_step_memory(const TrainingStepSpec& spec) {
  NNUC_RANGE("predict_training_step_memory");
  NNUC_CHECK(spec.device != Device::Meta, "predict_training_step_memory models CPU or CUDA, not Meta");
  NNUC_CHECK(spec.batch_size >= 1, "batch size must be >= 1, got ", spec.batch_size);
  auto ctx = Context::meta(spec.device);
  ctx->set_workspace_cap(spec.workspace_cap);
  Allocator& allocator = allocator_for(Device::Meta);
  TrainingStepMemory memory;
  const std::uint64_t base = held(allocator);
  const DType parameter_dtype = spec.activations == DType::f64 ? DType::f64 : DType::f32;
  UNet network(*ctx, spec.network, parameter_dtype, /*seed=*/0);
  memory.parameters = held(allocator) - base;
  SGD optimizer(*ctx, network.parameters(), OptimizerConfig{});
  memory.optimizer_state = held(allocator) - base - memory.parameters;
  const Triple& patch = spec.patch_size;
  const Tensor input = Tensor::empty(Shape{spec.batch_size, patch[0], patch[1], patch[2], spec.network.input_channels},
                                     spec.activations, *ctx);
  const int label_channels =
      spec.loss.regions ? spec.network.num_classes + (spec.loss.region_ignore == RegionIgnore::none ? 0 : 1) : 1;
  const Tensor labels = Tensor::empty(Shape{spec.batch_size, patch[0], patch[1], patch[2], label_channels},
                                      spec.loss.regions ? DType::u8 : DType::i16, *ctx);
  memory.batch = held(allocator) - base - memory.parameters - memory.optimizer_state;
  const std::uint64_t resident = held(allocator);
  allocator.reset_peak();
  training_step(*ctx, network, optimizer, input, labels, spec.loss, OptimizerConfig{}.initial_lr,
                [&](const char* phase) {
                  if (std::string(phase) == "forward") memory.saved_activations = held(allocator) - resident;
                  if (std::string(phase) != "backward") return;
                  for (const NamedParameter& parameter : network.parameters())
                    if (parameter.var->grad().defined())
                      memory.gradients += rounded_allocation_bytes(parameter.var->grad().bytes());
                });
  memory.peak_bytes = allocator.stats().peak_bytes - base;
  memory.transient_at_peak =
      memory.peak_bytes - memory.parameters - memory.optimizer_state - memory.batch - memory.saved_activations;
  memory.workspace_cap = spec.device == Device::CUDA ? spec.workspace_cap : 0;
  memory.fixed_overhead = spec.device == Device::CUDA ? kCudaFixedOverheadBytes : 0;
  return memory;
}

}  // namespace nnuc::nn
