// libFuzzer target: the pickle reader of nnU-Net's .pth checkpoints (nn/pth/pickle.h) on arbitrary
// bytes. Every input must end as a value tree or an nnuc::IoError: no crash, no unbounded memory
// (the value cap keeps an accepted input within -malloc_limit_mb), nothing run. Seeds: the data.pkl
// members of tests/nn/fixtures/nnunet_pth/**/*.pth (unzip -p FILE '*/data.pkl' > seed).
#include <cstddef>
#include <cstdint>

#include "kernels/core/error.h"
#include "nn/pth/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nnuc::nn::pickle::ParseLimits limits;
  limits.max_values = std::size_t{1} << 18;
  try {
    (void)nnuc::nn::pickle::parse_pickle(data, size, "fuzz.pkl", limits);
  } catch (const nnuc::Error&) {
  }
  return 0;
}
