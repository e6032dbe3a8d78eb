// `nnuc selfcheck` (also the last step of `nnuc demo`): runs every kernel on fresh random inputs on
// the CPU against a double-precision reference, and on CUDA against the CPU when a device is present;
// prints one line per kernel and a verdict.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "autograd/gradcheck.h"
#include "kernels/core/allocator.h"
#include "kernels/core/random.h"
#include "nn/training_step.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {

namespace {

nn::UNetConfig small_network(bool residual) {
  nn::UNetConfig config;
  config.encoder = residual ? nn::EncoderKind::Residual : nn::EncoderKind::Plain;
  config.input_channels = 2;
  config.num_classes = 3;
  config.features_per_stage = {4, 8, 8};
  config.kernel_sizes = {nn::Triple{1, 3, 3}, nn::Triple{3, 3, 3}, nn::Triple{3, 3, 3}};
  config.strides = {nn::Triple{1, 1, 1}, nn::Triple{1, 2, 2}, nn::Triple{2, 2, 2}};
  config.n_conv_per_stage = {2, 2, 2};
  config.n_conv_per_stage_decoder = {1, 1};
  return config;
}

Tensor random_tensor(const Shape& shape, DType dtype, Rng& rng, int classes = 0) {
  std::vector<double> values(static_cast<std::size_t>(shape.numel()));
  for (double& value : values)
    value = classes ? static_cast<double>(rng.below(static_cast<std::uint64_t>(classes))) : 2 * rng.uniform() - 1;
  if (dtype == DType::f64) return Tensor::from_vector(shape, values);
  if (dtype == DType::i16) return Tensor::from_vector(shape, std::vector<std::int16_t>(values.begin(), values.end()));
  return Tensor::from_vector(shape, std::vector<float>(values.begin(), values.end()));
}

struct Reporter {
  int failures = 0;
  void line(const char* name, bool ok, const std::string& detail, double seconds) {
    std::printf("  %-44s %s  %s (%.2f s)\n", name, ok ? "ok  " : "FAIL", detail.c_str(), seconds);
    failures += ok ? 0 : 1;
  }
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Every CPU kernel of a training step at once: the whole-network gradient in f64 against
// central differences along a random direction.
void check_network_gradient(Reporter& report, bool residual, Rng& rng) {
  const auto start = std::chrono::steady_clock::now();
  nn::UNet network(Context::cpu(), small_network(residual), DType::f64, 5);
  std::vector<Tensor> inputs;
  std::vector<bool>
  requires;
  for (const nn::NamedParameter& parameter : network.parameters()) {
    inputs.push_back(random_tensor(parameter.var->value().shape(), DType::f64, rng));
    requires.push_back(true);
  }
  inputs.push_back(random_tensor(Shape{2, 4, 8, 8, 2}, DType::f64, rng));
  requires.push_back(true);
  const Tensor labels = random_tensor(Shape{2, 4, 8, 8, 1}, DType::i16, rng, 3);
  auto graph = [&](autograd::Tape& tape, const std::vector<autograd::Var>& in) {
    auto parameters = network.parameters();
    for (std::size_t i = 0; i < parameters.size(); ++i) *parameters[i].var = in[i];
    std::vector<autograd::Var> outputs = network.forward(tape, in.back());
    std::vector<Shape> shapes;
    for (const auto& output : outputs) shapes.push_back(output.shape());
    return nn::deep_supervision_loss(tape, outputs, nn::deep_supervision_targets(Context::cpu(), labels, shapes), {});
  };
  autograd::GradcheckOptions options;
  options.step = 1e-5;
  options.seed = rng.engine()();
  const autograd::GradcheckResult result = autograd::directional_gradcheck(graph, inputs, requires, options);
  char detail[160];
  std::snprintf(detail, sizeof detail, "|analytic - numeric| = %.2e %s", result.max_abs_error, result.failure.c_str());
  report.line(residual ? "CPU f64 gradient, residual-encoder U-Net" : "CPU f64 gradient, plain U-Net", result.ok,
              detail, seconds_since(start));
}

// Measure mode predicts the CPU allocator's peak of a real training step exactly.
void check_memory_prediction(Reporter& report, Rng& rng) {
  const auto start = std::chrono::steady_clock::now();
  nn::TrainingStepSpec spec;
  spec.network = small_network(false);
  spec.batch_size = 2;
  spec.patch_size = {4, 8, 8};
  spec.activations = DType::f32;
  spec.device = Device::CPU;
  const nn::TrainingStepMemory predicted = nn::predict_training_step_memory(spec);
  Allocator& cpu = allocator_for(Device::CPU);
  const std::uint64_t base = cpu.stats().current_bytes;
  std::uint64_t measured = 0;
  {
    nn::UNet network(Context::cpu(), spec.network, DType::f32, 1);
    nn::SGD optimizer(Context::cpu(), network.parameters(), nn::OptimizerConfig{});
    const Tensor input = random_tensor(Shape{2, 4, 8, 8, 2}, DType::f32, rng);
    const Tensor labels = random_tensor(Shape{2, 4, 8, 8, 1}, DType::i16, rng, 3);
    cpu.reset_peak();
    nn::training_step(Context::cpu(), network, optimizer, input, labels, {}, 0.01);
    measured = cpu.stats().peak_bytes - base;
  }
  char detail[128];
  std::snprintf(detail, sizeof detail, "predicted %llu bytes, measured %llu", (unsigned long long)predicted.peak_bytes,
                (unsigned long long)measured);
  report.line("training-step memory, Meta vs CPU allocator", predicted.peak_bytes == measured, detail,
              seconds_since(start));
}

// The same f32 training step on CUDA and on the CPU: loss and updated weights agree.
void check_cuda_against_cpu(Reporter& report, Rng& rng) {
  const auto start = std::chrono::steady_clock::now();
  auto gpu = Context::cuda(0);
  const nn::UNetConfig config = small_network(false);
  nn::UNet cpu_network(Context::cpu(), config, DType::f32, 9), gpu_network(*gpu, config, DType::f32, 9);
  nn::SGD cpu_optimizer(Context::cpu(), cpu_network.parameters(), nn::OptimizerConfig{});
  nn::SGD gpu_optimizer(*gpu, gpu_network.parameters(), nn::OptimizerConfig{});
  const Tensor input = random_tensor(Shape{2, 4, 8, 8, 2}, DType::f32, rng);
  const Tensor labels = random_tensor(Shape{2, 4, 8, 8, 1}, DType::i16, rng, 3);
  const double cpu_loss = nn::training_step(Context::cpu(), cpu_network, cpu_optimizer, input, labels, {}, 0.01)
                              .loss.value()
                              .to_vector<double>()[0];
  const double gpu_loss =
      nn::training_step(*gpu, gpu_network, gpu_optimizer, input.copy_to(*gpu), labels.copy_to(*gpu), {}, 0.01)
          .loss.value()
          .to_vector<double>()[0];
  double worst = 0;
  auto a = cpu_network.parameters(), b = gpu_network.parameters();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = a[i].var->value().to_vector<double>(), y = b[i].var->value().to_vector<double>();
    for (std::size_t j = 0; j < x.size(); ++j) worst = std::max(worst, std::fabs(x[j] - y[j]));
  }
  const bool ok = std::fabs(cpu_loss - gpu_loss) <= 1e-4 * std::max(1.0, std::fabs(cpu_loss)) && worst <= 1e-4;
  char detail[160];
  std::snprintf(detail, sizeof detail, "loss CPU %.6f CUDA %.6f, max |weight diff| %.2e", cpu_loss, gpu_loss, worst);
  report.line("CUDA f32 training step vs CPU", ok, detail, seconds_since(start));
}

}  // namespace

int run_selfcheck(int argc, char** argv) {
  CommandLine cli("selfcheck", "nnuc selfcheck",
                  "Runs every kernel of a training step on fresh random inputs: whole-network gradients on the CPU\n"
                  "against central differences, predicted against measured memory, and CUDA against the CPU when\n"
                  "a device is present. Prints one line per check and a verdict.\n");
  cli.exit_codes("every check passed", "a check failed");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  std::printf("nnuc selfcheck: CUDA %s\n", cuda_available() ? "device present" : "device absent: CPU checks only");
  Reporter report;
  Rng rng(2024);
  check_network_gradient(report, false, rng);
  check_network_gradient(report, true, rng);
  check_memory_prediction(report, rng);
  if (cuda_available()) check_cuda_against_cpu(report, rng);
  std::printf("%s\n", report.failures ? "selfcheck FAILED" : "selfcheck passed");
  return report.failures ? kExitFailure : kExitSuccess;
}

}  // namespace nnuc::tools
