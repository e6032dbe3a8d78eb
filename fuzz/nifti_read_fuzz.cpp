// libFuzzer target (b) of shared/spec/reliability.md T2: the full in-memory NIfTI read, gzip
// included, as an image and as a label map. The cap keeps every accepted input within
// -malloc_limit_mb; the host allocator's cache is emptied after each input so that sizes seen
// once do not accumulate against -rss_limit_mb.
#include <cstddef>
#include <cstdint>

#include "data/nifti/nifti_io.h"
#include "kernels/core/allocator.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nnuc::data::NiftiReadOptions options;
  options.max_bytes = 64ull << 20;
  try {
    (void)nnuc::data::read_nifti_from_memory(data, size, "fuzz.nii", options);
  } catch (const nnuc::Error&) {
  }
  try {
    (void)nnuc::data::read_nifti_label_from_memory(data, size, "fuzz.nii", options);
  } catch (const nnuc::Error&) {
  }
  nnuc::allocator_for(nnuc::Device::CPU).release_cached();
  return 0;
}
