// Writes the fuzzers' seed corpus: the malformed-NIfTI corpus of the tests (reliability.md T1)
// and small valid files in every datatype, both byte orders, NIfTI-1/2, plain and gzip.
//   nnuc_nifti_seed_corpus OUTPUT_FOLDER
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/data/nifti_corpus.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_FOLDER\n", argv[0]);
    return 2;
  }
  const std::filesystem::path folder = argv[1];
  std::filesystem::create_directories(folder);
  std::size_t count = 0;
  auto save = [&](const std::string& name, const nnuc::testing::nifti::Bytes& bytes) {
    std::ofstream out(folder / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", (folder / name).c_str());
      std::exit(1);
    }
    ++count;
  };
  for (const auto& c : nnuc::testing::nifti::malformed_corpus()) save("malformed_" + c.name, c.bytes);
  for (const auto& [name, bytes] : nnuc::testing::nifti::valid_seed_files()) save(name, bytes);
  std::printf("%zu seed files in %s\n", count, folder.c_str());
  return 0;
}
