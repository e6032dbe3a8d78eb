// NIfTI reading entry points and the file layer (R1: file and gzip IO are separate from the
// header checks, which see only a bounded byte span).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "data/nifti/nifti_internal.h"

namespace nnuc::data {

namespace nifti_detail {

void MemorySource::read_at(std::uint64_t offset, void* dst, std::size_t count) const {
  if (offset > size_ || count > size_ - offset)
    NNUC_THROW(Error, name(), ": read of ", count, " bytes at ", offset, " past the end (", size_, " bytes)");
  if (count > 0) std::memcpy(dst, bytes_ + offset, count);
}

FileSource::FileSource(const std::string& path) : ByteSource(path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) NIFTI_FAIL(path, "NIFTI_OPEN", "cannot open for reading: ", std::strerror(errno));
  struct stat status;
  if (::fstat(fd_, &status) != 0) {
    const int error = errno;
    ::close(fd_);
    NIFTI_FAIL(path, "NIFTI_OPEN", "cannot stat: ", std::strerror(error));
  }
  if (!S_ISREG(status.st_mode)) {
    ::close(fd_);
    NIFTI_FAIL(path, "NIFTI_OPEN", "is not a regular file");
  }
  size_ = static_cast<std::uint64_t>(status.st_size);
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSource::read_at(std::uint64_t offset, void* dst, std::size_t count) const {
  auto* out = static_cast<unsigned char*>(dst);
  std::size_t done = 0;
  while (done < count) {
    const ssize_t got = ::pread(fd_, out + done, count - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      NIFTI_FAIL(name(), "NIFTI_READ", "read of ", count, " bytes at byte ", offset, " failed: ", std::strerror(errno));
    }
    if (got == 0)
      NIFTI_FAIL(name(), "NIFTI_READ", "file ends at byte ", offset + done, " while reading ", count, " bytes at ",
                 offset, " (it shrank while being read?)");
    done += static_cast<std::size_t>(got);
  }
}

bool is_gzip_name(const std::string& path) {
  auto ends_with = [&](const char* suffix) {
    const std::size_t length = std::strlen(suffix);
    if (path.size() < length) return false;
    for (std::size_t index = 0; index < length; ++index) {
      char c = path[path.size() - length + index];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != suffix[index]) return false;
    }
    return true;
  };
  if (ends_with(".nii.gz")) return true;
  if (ends_with(".nii")) return false;
  NIFTI_INVALID(path, "NIFTI_FILE_NAME",
                "expected a name ending in .nii or .nii.gz (.hdr/.img pairs, .nia and "
                "Analyze files are not read)");
}

}  // namespace nifti_detail

namespace {

using nifti_detail::ByteSource;
using nifti_detail::FileSource;
using nifti_detail::MemorySource;

Shape image_shape(const NiftiHeaderInfo& info) {
  const auto& dim = info.geometry.dim;
  std::int64_t volumes = 1;
  for (int axis = 4; axis <= info.ndim; ++axis) volumes *= dim[axis];
  const auto spatial = info.geometry.shape();
  return Shape{volumes, spatial[0], spatial[1], spatial[2]};
}

// Runs `decode` on the uncompressed content of a file or span, validated first.
template <typename Decode>
auto with_validated_content(const ByteSource& raw, bool gzip, const NiftiReadOptions& options, Decode&& decode) {
  nifti_detail::quiet_nifticlib();
  if (!gzip) {
    NiftiHeaderInfo info = nifti_detail::validate_source(raw, options);
    return decode(raw, info);
  }
  std::vector<std::string> stream_warnings;
  const nifti_detail::ByteBuffer content = nifti_detail::inflate_nifti(raw, options, stream_warnings);
  const MemorySource inflated(content.data(), content.size(), raw.name());
  NiftiHeaderInfo info = nifti_detail::validate_source(inflated, options);
  info.warnings.insert(info.warnings.end(), stream_warnings.begin(), stream_warnings.end());
  return decode(inflated, info);
}

NiftiImage decode_image_content(const ByteSource& source, const NiftiHeaderInfo& info,
                                const NiftiReadOptions& options) {
  NiftiImage image;
  image.voxels = Tensor::empty_cpu(image_shape(info), DType::f32);  // sizes validated against the cap
  image.non_finite_voxels = nifti_detail::decode_image(source, info, image.voxels.data<float>());
  if (options.reject_non_finite && image.non_finite_voxels > 0)
    NIFTI_INVALID(source.name(), "NIFTI_NON_FINITE", image.non_finite_voxels,
                  " voxels are NaN or Inf after scaling; expected finite values (reject_non_finite is set)");
  image.geometry = info.geometry;
  image.warnings = info.warnings;
  return image;
}

NiftiLabel decode_label_content(const ByteSource& source, const NiftiHeaderInfo& info) {
  const Shape shape = image_shape(info);
  if (shape[0] != 1)
    NIFTI_INVALID(source.name(), "NIFTI_LABEL_VOLUMES", "a label map must hold one volume but dim[0] = ", info.ndim,
                  " gives ", shape[0], " volumes (dim[4..", info.ndim, "])");
  NiftiLabel label;
  label.labels = Tensor::empty_cpu(Shape{shape[1], shape[2], shape[3]}, DType::i16);
  nifti_detail::decode_label(source, info, label.labels.data<std::int16_t>());
  label.geometry = info.geometry;
  label.warnings = info.warnings;
  return label;
}

}  // namespace

NiftiImage read_nifti(const std::string& path, const NiftiReadOptions& options) {
  const bool gzip = nifti_detail::is_gzip_name(path);
  const FileSource file(path);
  return with_validated_content(file, gzip, options, [&](const ByteSource& source, const NiftiHeaderInfo& info) {
    return decode_image_content(source, info, options);
  });
}

NiftiImage read_nifti_from_memory(const unsigned char* bytes, std::size_t size, const std::string& name_for_errors,
                                  const NiftiReadOptions& options) {
  NNUC_CHECK(bytes != nullptr || size == 0, "read_nifti_from_memory: bytes is null with size ", size);
  const MemorySource memory(bytes, size, name_for_errors);
  const bool gzip = nifti_detail::has_gzip_magic(bytes, size);
  return with_validated_content(memory, gzip, options, [&](const ByteSource& source, const NiftiHeaderInfo& info) {
    return decode_image_content(source, info, options);
  });
}

NiftiLabel read_nifti_label(const std::string& path, const NiftiReadOptions& options) {
  const bool gzip = nifti_detail::is_gzip_name(path);
  const FileSource file(path);
  return with_validated_content(file, gzip, options, [](const ByteSource& source, const NiftiHeaderInfo& info) {
    return decode_label_content(source, info);
  });
}

NiftiLabel read_nifti_label_from_memory(const unsigned char* bytes, std::size_t size,
                                        const std::string& name_for_errors, const NiftiReadOptions& options) {
  NNUC_CHECK(bytes != nullptr || size == 0, "read_nifti_label_from_memory: bytes is null with size ", size);
  const MemorySource memory(bytes, size, name_for_errors);
  const bool gzip = nifti_detail::has_gzip_magic(bytes, size);
  return with_validated_content(memory, gzip, options, [](const ByteSource& source, const NiftiHeaderInfo& info) {
    return decode_label_content(source, info);
  });
}

}  // namespace nnuc::data
