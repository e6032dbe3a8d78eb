// libFuzzer target (a) of shared/spec/reliability.md T2: NIfTI header parse and validation from
// raw bytes (validate_nifti_header). Any exception other than nnuc::Error, any sanitizer report,
// any crash or any allocation beyond -malloc_limit_mb is a finding.
#include <cstddef>
#include <cstdint>

#include "data/nifti/nifti_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)nnuc::data::validate_nifti_header(data, size, "fuzz.nii", nnuc::data::NiftiReadOptions{});
  } catch (const nnuc::Error&) {
    // A rejection with a message is the expected outcome for most inputs.
  }
  return 0;
}
