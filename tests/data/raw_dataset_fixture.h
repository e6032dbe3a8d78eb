// Fixtures for the raw-dataset tests: temp folders, raw NIfTI files of any dimensionality (the
// library writes only 3-D), byte-level helpers and small dataset builders. Header-only because
// tests/CMakeLists.txt compiles only *_test.cpp files.
#pragma once

#include <nifti1.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "data/nifti/nifti_io.h"
#include "kernels/core/error.h"

namespace nnuc::testing {

// A fresh folder under the system temp folder, removed (with its contents) on destruction.
class TempFolder {
 public:
  TempFolder() {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("nnuc_dataset_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code error;
    std::filesystem::remove_all(path_, error);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& relative) const {
    return (std::filesystem::path(path_) / relative).string();
  }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) NNUC_THROW(IoError, "test: cannot open ", path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) NNUC_THROW(IoError, "test: cannot write ", path);
}

// Writes a NIfTI-1 file of float32 voxels: dims = (ni, nj, nk[, nt]) in file order (i fastest),
// pixdim = (di, dj, dk), axis-aligned sform and qform (codes 1) with the given origin (x, y, z).
// .nii.gz names are gzip-compressed.
inline void write_raw_nifti_f32(const std::string& path, const std::vector<std::int64_t>& dims,
                                const std::array<double, 3>& pixdim, const std::vector<float>& data,
                                const std::array<double, 3>& origin = {0, 0, 0}) {
  nifti_1_header header;
  std::memset(&header, 0, sizeof header);
  header.sizeof_hdr = 348;
  header.dim[0] = static_cast<short>(dims.size());
  std::int64_t count = 1;
  for (std::size_t d = 0; d < 7; ++d) {
    header.dim[d + 1] = static_cast<short>(d < dims.size() ? dims[d] : 1);
    if (d < dims.size()) count *= dims[d];
  }
  if (static_cast<std::int64_t>(data.size()) != count) NNUC_THROW(InvalidInput, "test: data size != product of dims");
  header.datatype = DT_FLOAT32;
  header.bitpix = 32;
  header.pixdim[0] = 1;
  for (int d = 0; d < 3; ++d) header.pixdim[d + 1] = static_cast<float>(pixdim[static_cast<std::size_t>(d)]);
  header.pixdim[4] = 1;
  header.vox_offset = 352;
  header.xyzt_units = NIFTI_UNITS_MM;
  header.qform_code = 1;
  header.sform_code = 1;
  header.qoffset_x = static_cast<float>(origin[0]);
  header.qoffset_y = static_cast<float>(origin[1]);
  header.qoffset_z = static_cast<float>(origin[2]);
  header.srow_x[0] = static_cast<float>(pixdim[0]);
  header.srow_x[3] = static_cast<float>(origin[0]);
  header.srow_y[1] = static_cast<float>(pixdim[1]);
  header.srow_y[3] = static_cast<float>(origin[1]);
  header.srow_z[2] = static_cast<float>(pixdim[2]);
  header.srow_z[3] = static_cast<float>(origin[2]);
  std::memcpy(header.magic, "n+1\0", 4);
  std::string bytes(reinterpret_cast<const char*>(&header), sizeof header);
  bytes.append(4, '\0');
  bytes.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (!gz) {
    write_bytes(path, bytes);
    return;
  }
  gzFile file = gzopen(path.c_str(), "wb1");
  if (file == nullptr) NNUC_THROW(IoError, "test: cannot gzopen ", path);
  const int written = gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
  if (written != static_cast<int>(bytes.size())) NNUC_THROW(IoError, "test: gzwrite failed for ", path);
}

// Axis-aligned geometry for a (a0, a1, a2) volume.
inline data::NiftiGeometry test_geometry(const std::array<std::int64_t, 3>& shape, const std::array<double, 3>& spacing,
                                         const std::array<double, 3>& origin = {0, 0, 0},
                                         const std::array<std::array<double, 3>, 3>& direction = {
                                             {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}) {
  return data::make_nifti_geometry(shape, spacing, origin, direction);
}

}  // namespace nnuc::testing
