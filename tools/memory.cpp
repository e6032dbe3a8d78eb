// `nnuc memory`: the peak memory of one training step of a U-Net, predicted by running the step in
// measure mode (Meta tensors, the same code as training; nothing is allocated), with its breakdown.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/core/context.h"
#include "nn/training_step.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace nnuc::tools {
namespace {

std::string gib(std::uint64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof(text), "%10.3f GiB  %14llu B", static_cast<double>(bytes) / (1ull << 30),
                static_cast<unsigned long long>(bytes));
  return text;
}

// One bf16 training step of a small U-Net: what measure_cuda_fixed_overhead runs so that the kernels
// a step uses (cuDNN engines, nnuc's own) are loaded.
void small_training_step(const Context& ctx) {
  nn::UNetConfig config;
  config.features_per_stage = {16, 32, 64};
  config.kernel_sizes.assign(3, nn::Triple{3, 3, 3});
  config.strides = {nn::Triple{1, 1, 1}, nn::Triple{2, 2, 2}, nn::Triple{2, 2, 2}};
  config.n_conv_per_stage = {2, 2, 2};
  config.n_conv_per_stage_decoder = {2, 2};
  config.num_classes = 3;
  nn::UNet network(ctx, config, DType::f32, 1);
  nn::SGD optimizer(ctx, network.parameters(), nn::OptimizerConfig{});
  const Shape shape{2, 32, 32, 32, 1};
  Tensor input = Tensor::empty_cpu(shape, DType::bf16);
  std::vector<std::int16_t> labels(static_cast<std::size_t>(shape.numel()));
  for (std::int64_t i = 0; i < shape.numel(); ++i) {
    input.data<bf16>()[i] = float_to_bf16(static_cast<float>(i % 7) / 7.0f);
    labels[static_cast<std::size_t>(i)] = static_cast<std::int16_t>(i % 3);
  }
  nn::training_step(ctx, network, optimizer, input.copy_to(ctx), Tensor::from_vector(shape, labels).copy_to(ctx),
                    nn::LossConfig{}, 0.01);
}

// `--measure-cuda`: the fixed overhead measured on CUDA device 0, beside the stated constant.
void print_measured_overhead() {
  if (!cuda_available()) {
    std::printf("--measure-cuda: no CUDA device, nothing measured\n");
    return;
  }
  const CudaFixedOverhead measured = measure_cuda_fixed_overhead(0, small_training_step);
  std::printf("fixed CUDA overhead measured on device 0 (%s of device memory):\n",
              gib(measured.device_total_bytes).c_str());
  if (measured.context_bytes) {
    std::printf("  CUDA context            %s  (NVML, before/after creating it)\n",
                gib(*measured.context_bytes).c_str());
  } else {
    std::printf("  CUDA context            not measured (NVML missing, or the context existed already)\n");
  }
  std::printf("  stream + cuDNN handle  %s\n", gib(measured.handles_bytes).c_str());
  std::printf("  first use of kernels    %s  (one bf16 training step of a small U-Net, pool excluded)\n",
              gib(measured.first_use_bytes).c_str());
  std::printf("  = measured overhead     %s  (stated constant: %s)\n", gib(measured.total()).c_str(),
              gib(nn::kCudaFixedOverheadBytes).c_str());
}

}  // namespace

int run_memory(int argc, char** argv) {
  std::string network = "3d_fullres", device = "cuda", precision = "bf16";
  bool residual = false;
  int channels = 1, classes = 3, batch = 2;
  long long workspace_mib = static_cast<long long>(kDefaultWorkspaceCap >> 20);
  std::vector<int> patch_sizes;
  CommandLine cli("memory", "nnuc memory [options]",
                  "Predicts the peak memory of one training step (forward, Dice+CE with deep supervision,\n"
                  "backward, clipping, SGD) of nnU-Net's default network, from a shape-only run of the real step.\n");
  cli.option("--network", network,
             "default network: 3-D 6 stages 32..320, or 2-D 8 stages 32..512 (default 3d_fullres)")
      ->type_name("3d_fullres|2d")
      ->check(CLI::IsMember({"3d_fullres", "2d"}));
  cli.flag("--residual", residual, "residual encoder (ResEnc) instead of the plain one");
  cli.option("--patch", patch_sizes, "patch size (3d_fullres: 128,128,128; 2d: 1,512,512)")
      ->type_name("D,H,W")
      ->delimiter(',')
      ->expected(3)
      ->check(in_range(1, 4096));
  CLI::Option* batch_option =
      cli.option("--batch", batch, "batch size (3d_fullres: 2; 2d: 12)")->type_name("N")->check(in_range(1, 4096));
  cli.option("--channels", channels, "input channels (1)")->type_name("C")->check(in_range(1, 64));
  cli.option("--classes", classes, "output classes including background (3)")->type_name("K")->check(in_range(2, 1024));
  cli.option("--device", device, "device modelled (cuda)")
      ->type_name("cuda|cpu")
      ->check(CLI::IsMember({"cuda", "cpu"}));
  cli.option("--precision", precision,
             "activations on CUDA: bf16 (mixed precision, the default) or f32; CPU: always f32")
      ->type_name("bf16|f32")
      ->check(CLI::IsMember({"bf16", "f32"}));
  cli.option("--workspace-cap", workspace_mib, "cuDNN workspace cap (256)")
      ->type_name("MIB")
      ->check(in_range(0LL, 1LL << 20));
  bool measure_cuda = false;
  cli.flag("--measure-cuda", measure_cuda,
           "with a CUDA device, also measure the fixed overhead (context, handles, kernels a step loads)");
  cli.exit_codes("predicted", "runtime failure");
  if (cli.parse(argc, argv) == Parsed::help_shown) return kExitSuccess;
  nn::Triple patch = network == "2d" ? nn::Triple{1, 512, 512} : nn::Triple{128, 128, 128};
  if (!patch_sizes.empty()) patch = nn::Triple{patch_sizes[0], patch_sizes[1], patch_sizes[2]};
  if (network == "2d" && batch_option->count() == 0) batch = 12;

  nn::TrainingStepSpec spec;
  spec.network = network == "2d" ? nn::default_2d_config(channels, classes) : nn::default_3d_config(channels, classes);
  if (residual) spec.network.encoder = nn::EncoderKind::Residual;
  spec.patch_size = patch;
  spec.batch_size = batch;
  spec.device = device == "cuda" ? Device::CUDA : Device::CPU;
  spec.activations = spec.device == Device::CUDA && precision == "bf16" ? DType::bf16 : DType::f32;
  spec.workspace_cap = static_cast<std::size_t>(workspace_mib) << 20;
  spec.network.validate();

  if (measure_cuda) print_measured_overhead();  // first: it must see the device before this process used it
  const nn::TrainingStepMemory memory = nn::predict_training_step_memory(spec);
  std::printf("%s%s U-Net, %d -> %d classes, %lld parameters; patch %dx%dx%d, batch %d, %s activations on %s\n",
              network.c_str(), residual ? " residual-encoder" : "", channels, classes,
              static_cast<long long>(nn::unet_parameter_count(spec.network)), patch[0], patch[1], patch[2], batch,
              dtype_name(spec.activations), device == "cuda" ? "CUDA" : "CPU");
  std::printf("  parameters (f32)        %s\n", gib(memory.parameters).c_str());
  std::printf("  optimizer state         %s\n", gib(memory.optimizer_state).c_str());
  std::printf("  batch (input + labels)  %s\n", gib(memory.batch).c_str());
  std::printf("  saved activations       %s\n", gib(memory.saved_activations).c_str());
  std::printf("  gradients               %s\n", gib(memory.gradients).c_str());
  std::printf("  transient at peak       %s\n", gib(memory.transient_at_peak).c_str());
  std::printf("  = allocator peak        %s\n", gib(memory.peak_bytes).c_str());
  if (spec.device == Device::CUDA) {
    std::printf("  + fixed CUDA overhead   %s  (context, handles, kernels; stated constant, --measure-cuda)\n",
                gib(memory.fixed_overhead).c_str());
    std::printf("  = device total          %s  (convolution workspaces chosen under a %lld MiB cap)\n",
                gib(memory.device_total()).c_str(), workspace_mib);
  }
  return kExitSuccess;
}

}  // namespace nnuc::tools
