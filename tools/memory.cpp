// `nnuc memory`: the peak memory of one training step of a U-Net, predicted by running the step in
// measure mode (Meta tensors, the same code as training; nothing is allocated), with its breakdown.
#include "tools/memory.h"

#include <cstdio>
#include <sstream>

#include "nn/training_step.h"
#include "tools/data_commands.h"

namespace nnuc::tools {
namespace {

void print_help() {
  std::printf(
      "usage: nnuc memory [options]\n"
      "Predicts the peak memory of one training step (forward, Dice+CE with deep supervision,\n"
      "backward, clipping, SGD) of nnU-Net's default network, from a shape-only run of the real step.\n"
      "\n"
      "  --network 3d_fullres|2d   default network: 3-D 6 stages 32..320, or 2-D 8 stages 32..512 (3d_fullres)\n"
      "  --residual                residual encoder (ResEnc) instead of the plain one\n"
      "  --patch D,H,W             patch size (3d_fullres: 128,128,128; 2d: 1,512,512)\n"
      "  --batch N                 batch size (3d_fullres: 2; 2d: 12)\n"
      "  --channels C              input channels (1)\n"
      "  --classes K               output classes including background (3)\n"
      "  --device cuda|cpu         device modelled (cuda)\n"
      "  --precision bf16|f32      activations on CUDA: bf16 (mixed precision, the default) or f32; CPU: always f32\n"
      "  --workspace-cap MIB       cuDNN workspace cap (256)\n");
}

nn::Triple parse_patch(const std::string& text) {
  nn::Triple patch{0, 0, 0};
  std::istringstream in(text);
  std::string part;
  int axis = 0;
  while (std::getline(in, part, ',')) {
    char* end = nullptr;
    const long value = std::strtol(part.c_str(), &end, 10);
    NNUC_CHECK(axis < 3 && !part.empty() && *end == '\0' && value >= 1 && value <= 4096, "nnuc memory: --patch = '",
               text, "': expected three sizes D,H,W in [1, 4096]");
    patch[static_cast<std::size_t>(axis++)] = static_cast<int>(value);
  }
  NNUC_CHECK(axis == 3, "nnuc memory: --patch = '", text, "': expected three sizes D,H,W");
  return patch;
}

std::string gib(std::uint64_t bytes) {
  char text[64];
  std::snprintf(text, sizeof(text), "%10.3f GiB  %14llu B", static_cast<double>(bytes) / (1ull << 30),
                static_cast<unsigned long long>(bytes));
  return text;
}

}  // namespace

int run_memory(int argc, char** argv) {
  ArgCursor args("memory", argc, argv);
  std::string network = "3d_fullres", device = "cuda", precision = "bf16";
  bool residual = false, patch_given = false, batch_given = false;
  int channels = 1, classes = 3, batch = 2;
  long long workspace_mib = static_cast<long long>(kDefaultWorkspaceCap >> 20);
  nn::Triple patch{128, 128, 128};
  while (!args.done()) {
    const std::string option = args.next();
    if (option == "--help" || option == "-h") {
      print_help();
      return 0;
    } else if (option == "--network") {
      network = args.value(option);
      NNUC_CHECK(network == "3d_fullres" || network == "2d", "nnuc memory: --network = '", network,
                 "': expected 3d_fullres or 2d");
    } else if (option == "--residual") {
      residual = true;
    } else if (option == "--patch") {
      patch = parse_patch(args.value(option));
      patch_given = true;
    } else if (option == "--batch") {
      batch = static_cast<int>(args.integer(option, 1, 4096));
      batch_given = true;
    } else if (option == "--channels") {
      channels = static_cast<int>(args.integer(option, 1, 64));
    } else if (option == "--classes") {
      classes = static_cast<int>(args.integer(option, 2, 1024));
    } else if (option == "--device") {
      device = args.value(option);
      NNUC_CHECK(device == "cuda" || device == "cpu", "nnuc memory: --device = '", device, "': expected cuda or cpu");
    } else if (option == "--precision") {
      precision = args.value(option);
      NNUC_CHECK(precision == "bf16" || precision == "f32", "nnuc memory: --precision = '", precision,
                 "': expected bf16 or f32");
    } else if (option == "--workspace-cap") {
      workspace_mib = args.integer(option, 0, 1 << 20);
    } else {
      args.unknown(option);
    }
  }
  nn::TrainingStepSpec spec;
  spec.network = network == "2d" ? nn::default_2d_config(channels, classes) : nn::default_3d_config(channels, classes);
  if (residual) spec.network.encoder = nn::EncoderKind::Residual;
  if (network == "2d" && !patch_given) patch = nn::Triple{1, 512, 512};
  if (network == "2d" && !batch_given) batch = 12;
  spec.patch_size = patch;
  spec.batch_size = batch;
  spec.device = device == "cuda" ? Device::CUDA : Device::CPU;
  spec.activations = spec.device == Device::CUDA && precision == "bf16" ? DType::bf16 : DType::f32;
  spec.workspace_cap = static_cast<std::size_t>(workspace_mib) << 20;
  spec.network.validate();

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
    std::printf("  + fixed CUDA overhead   %s  (context, cuDNN/cuBLAS handles; stated constant)\n",
                gib(memory.fixed_overhead).c_str());
    std::printf("  = device total          %s  (convolution workspaces chosen under a %lld MiB cap)\n",
                gib(memory.device_total()).c_str(), workspace_mib);
  }
  return 0;
}

}  // namespace nnuc::tools
