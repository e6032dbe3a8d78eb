// Atomic NIfTI writing with a reference image's geometry: nifticlib builds the header struct,
// the geometry fields are then set verbatim from the reference, and the bytes (gzip through
// zlib) go through data::write_file_atomic: a temp file in the same folder, fsynced, re-read and
// verified, then renamed over the target.
#include <nifti2_io.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <type_traits>

#include "data/dataset/atomic_file.h"
#include "data/nifti/nifti_internal.h"

namespace nnuc::data {

namespace {

constexpr int kGzipLevel = 1;  // nibabel's default: labels compress well even at level 1

bool representable_in_float(double value) {
  return std::isnan(value) || static_cast<double>(static_cast<float>(value)) == value;
}

// Header bytes (header + 4-byte extender, no extensions) for `reference`'s geometry.
std::vector<unsigned char> make_header(const NiftiGeometry& g, int datatype, const std::string& path) {
  NNUC_CHECK(g.nifti_version == 1 || g.nifti_version == 2, path, ": reference nifti_version is ", g.nifti_version,
             "; expected 1 or 2");
  NNUC_CHECK(g.dim[0] >= 1 && g.dim[0] <= 7, path, ": reference dim[0] is ", g.dim[0], "; expected 1..7");
  const int ndim = static_cast<int>(std::min<std::int64_t>(g.dim[0], 3));
  std::int64_t dims[8] = {ndim, 1, 1, 1, 1, 1, 1, 1};
  for (int axis = 1; axis <= ndim; ++axis) {
    NNUC_CHECK(g.dim[axis] >= 1 && (g.nifti_version == 2 || g.dim[axis] <= 32767), path, ": reference dim[", axis,
               "] is ", g.dim[axis], "; expected 1..", g.nifti_version == 1 ? "32767 for NIfTI-1" : "2^63");
    dims[axis] = g.dim[axis];
  }
  if (g.nifti_version == 1) {
    const double fields[] = {g.pixdim[0],  g.pixdim[1],  g.pixdim[2],  g.pixdim[3],  g.quatern_b,  g.quatern_c,
                             g.quatern_d,  g.qoffset_x,  g.qoffset_y,  g.qoffset_z,  g.srow[0][0], g.srow[0][1],
                             g.srow[0][2], g.srow[0][3], g.srow[1][0], g.srow[1][1], g.srow[1][2], g.srow[1][3],
                             g.srow[2][0], g.srow[2][1], g.srow[2][2], g.srow[2][3]};
    for (double value : fields)
      NNUC_CHECK(representable_in_float(value), path, ": reference geometry value ", value,
                 " is not representable in NIfTI-1 (float32); round it or use nifti_version 2");
    NNUC_CHECK(g.xyzt_units >= 0 && g.xyzt_units <= 255, path, ": reference xyzt_units ", g.xyzt_units,
               " does not fit NIfTI-1");
  }
  NNUC_CHECK(g.qform_code >= 0 && g.qform_code <= 5 && g.sform_code >= 0 && g.sform_code <= 5, path,
             ": reference qform_code ", g.qform_code, " / sform_code ", g.sform_code, "; expected 0..5");

  nifti_detail::quiet_nifticlib();
  std::unique_ptr<nifti_image, void (*)(nifti_image*)> nim(nifti_make_new_nim(dims, datatype, 0), nifti_image_free);
  if (!nim) NNUC_THROW(Error, path, ": nifticlib could not create a header for datatype ", datatype);
  nim->nifti_type = g.nifti_version == 2 ? NIFTI_FTYPE_NIFTI2_1 : NIFTI_FTYPE_NIFTI1_1;
  nim->iname_offset = g.nifti_version == 2 ? 544 : 352;
  nim->scl_slope = 1.0;
  nim->scl_inter = 0.0;
  std::strncpy(nim->descrip, "nnuc", sizeof nim->descrip - 1);

  std::vector<unsigned char> bytes;
  if (g.nifti_version == 1) {
    nifti_1_header h;
    if (nifti_convert_nim2n1hdr(nim.get(), &h) != 0) NNUC_THROW(Error, path, ": nifticlib could not build the header");
    for (int index = 0; index < 4; ++index) h.pixdim[index] = static_cast<float>(g.pixdim[index]);
    h.qform_code = static_cast<short>(g.qform_code);
    h.sform_code = static_cast<short>(g.sform_code);
    h.quatern_b = static_cast<float>(g.quatern_b), h.quatern_c = static_cast<float>(g.quatern_c);
    h.quatern_d = static_cast<float>(g.quatern_d);
    h.qoffset_x = static_cast<float>(g.qoffset_x), h.qoffset_y = static_cast<float>(g.qoffset_y);
    h.qoffset_z = static_cast<float>(g.qoffset_z);
    for (int col = 0; col < 4; ++col) {
      h.srow_x[col] = static_cast<float>(g.srow[0][col]);
      h.srow_y[col] = static_cast<float>(g.srow[1][col]);
      h.srow_z[col] = static_cast<float>(g.srow[2][col]);
    }
    h.xyzt_units = static_cast<char>(g.xyzt_units);
    h.vox_offset = 352.0f;
    bytes.resize(352, 0);
    std::memcpy(bytes.data(), &h, sizeof h);
  } else {
    nifti_2_header h;
    if (nifti_convert_nim2n2hdr(nim.get(), &h) != 0) NNUC_THROW(Error, path, ": nifticlib could not build the header");
    std::memcpy(h.magic, "n+2\0\r\n\032\n", 8);
    for (int index = 0; index < 4; ++index) h.pixdim[index] = g.pixdim[index];
    h.qform_code = g.qform_code;
    h.sform_code = g.sform_code;
    h.quatern_b = g.quatern_b, h.quatern_c = g.quatern_c, h.quatern_d = g.quatern_d;
    h.qoffset_x = g.qoffset_x, h.qoffset_y = g.qoffset_y, h.qoffset_z = g.qoffset_z;
    for (int col = 0; col < 4; ++col) {
      h.srow_x[col] = g.srow[0][col];
      h.srow_y[col] = g.srow[1][col];
      h.srow_z[col] = g.srow[2][col];
    }
    h.xyzt_units = g.xyzt_units;
    h.vox_offset = 544;
    bytes.resize(544, 0);
    std::memcpy(bytes.data(), &h, sizeof h);
  }
  return bytes;
}

// data::write_all with the NIfTI error code in the message.
void write_bytes(int fd, const unsigned char* data, std::size_t size, const std::string& temp) {
  try {
    write_all(fd, data, size, temp);
  } catch (const IoError& failure) {
    NIFTI_FAIL(temp, "NIFTI_WRITE", failure.what());
  }
}

// One gzip member of `pieces` (concatenated) into fd, compressed as pigz does: the content is cut
// into chunks of kGzipChunkBytes, each deflated by its own zlib stream (no history across chunks)
// that ends on a byte boundary (Z_SYNC_FLUSH; the last chunk Z_FINISH), so their concatenation is
// one valid deflate stream. Chunks are compressed in parallel, kGzipChunksPerWave at a time, and
// written in order; the CRC-32 is combined from theirs. The bytes depend on the content alone, not
// on the number of threads.
constexpr std::size_t kGzipChunkBytes = std::size_t{1} << 20;
constexpr std::size_t kGzipChunksPerWave = 32;  // bounds the compressed bytes held at once

using Pieces = std::vector<std::pair<const unsigned char*, std::size_t>>;

struct CompressedChunk {
  nifti_detail::ByteBuffer bytes;
  uLong crc = 0;
  std::size_t length = 0;  // uncompressed bytes
  bool failed = false;
};

// Deflates content bytes [begin, end) of `pieces` as one chunk (raw deflate, no header).
void deflate_chunk(const Pieces& pieces, std::size_t begin, std::size_t end, bool last, CompressedChunk& chunk) {
  Pieces segments;  // the parts of [begin, end) in each piece
  std::size_t piece_start = 0;
  for (const auto& [data, size] : pieces) {
    const std::size_t from = std::max(begin, piece_start), to = std::min(end, piece_start + size);
    if (from < to) segments.emplace_back(data + (from - piece_start), to - from);
    piece_start += size;
  }
  if (segments.empty()) segments.emplace_back(nullptr, 0);  // an empty content still ends the stream

  z_stream z;
  std::memset(&z, 0, sizeof z);
  if (deflateInit2(&z, kGzipLevel, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    chunk.failed = true;
    return;
  }
  chunk.length = end - begin;
  chunk.crc = crc32(0, Z_NULL, 0);
  chunk.bytes.resize(deflateBound(&z, static_cast<uLong>(chunk.length)) + 64);  // + the flush marker
  std::size_t written = 0;
  for (std::size_t segment = 0; segment < segments.size() && !chunk.failed; ++segment) {
    const auto [data, count] = segments[segment];
    chunk.crc = crc32_z(chunk.crc, data, count);
    z.next_in = const_cast<unsigned char*>(data);  // zlib's API is not const
    z.avail_in = static_cast<uInt>(count);         // count <= kGzipChunkBytes
    const int flush = segment + 1 < segments.size() ? Z_NO_FLUSH : last ? Z_FINISH : Z_SYNC_FLUSH;
    for (;;) {
      if (chunk.bytes.size() - written < 64) chunk.bytes.resize(2 * chunk.bytes.size());
      z.next_out = chunk.bytes.data() + written;
      z.avail_out = static_cast<uInt>(chunk.bytes.size() - written);
      const int status = deflate(&z, flush);
      written = chunk.bytes.size() - z.avail_out;
      if (status == Z_STREAM_ERROR) {
        chunk.failed = true;
        break;
      }
      // Done once the input is taken and, for a flush, all of its output fit (zlib's contract).
      if (flush == Z_FINISH ? status == Z_STREAM_END : z.avail_in == 0 && z.avail_out > 0) break;
    }
  }
  deflateEnd(&z);
  chunk.bytes.resize(written);
}

void write_gzip(int fd, const Pieces& pieces, const std::string& temp) {
  std::size_t total = 0;
  for (const auto& piece : pieces) total += piece.second;
  // RFC 1952 member header: deflate, no flags, no time stamp, XFL 4 (fastest), OS 3 (Unix).
  const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3};
  write_bytes(fd, header, sizeof header, temp);
  const std::size_t chunks = std::max<std::size_t>(1, (total + kGzipChunkBytes - 1) / kGzipChunkBytes);
  uLong crc = crc32(0, Z_NULL, 0);
  std::vector<CompressedChunk> wave;
  for (std::size_t first = 0; first < chunks; first += kGzipChunksPerWave) {
    const std::size_t count = std::min(kGzipChunksPerWave, chunks - first);
    wave.assign(count, CompressedChunk{});
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
    for (std::int64_t index = 0; index < static_cast<std::int64_t>(count); ++index) {
      const std::size_t chunk = first + static_cast<std::size_t>(index);
      const std::size_t begin = chunk * kGzipChunkBytes, end = std::min(total, begin + kGzipChunkBytes);
      deflate_chunk(pieces, begin, end, chunk + 1 == chunks, wave[static_cast<std::size_t>(index)]);
    }
    for (const CompressedChunk& chunk : wave) {
      if (chunk.failed) NIFTI_FAIL(temp, "NIFTI_WRITE", "zlib deflate failed");
      write_bytes(fd, chunk.bytes.data(), chunk.bytes.size(), temp);
      crc = crc32_combine(crc, chunk.crc, static_cast<z_off_t>(chunk.length));
    }
  }
  unsigned char trailer[8];
  const auto size_mod = static_cast<std::uint32_t>(total);  // ISIZE: the length modulo 2^32
  for (int byte = 0; byte < 4; ++byte) {
    trailer[byte] = static_cast<unsigned char>(crc >> (8 * byte));
    trailer[4 + byte] = static_cast<unsigned char>(size_mod >> (8 * byte));
  }
  write_bytes(fd, trailer, sizeof trailer, temp);
}

void write_atomically(const std::string& path, const std::vector<unsigned char>& header, const unsigned char* data,
                      std::size_t data_bytes, const std::function<void(const std::string&)>& verify) {
  const bool gzip = nifti_detail::is_gzip_name(path);
  const std::size_t slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  NNUC_CHECK(base.size() > (gzip ? 7u : 4u), path, ": NIFTI_FILE_NAME: the file name has no stem");
  write_file_atomic(
      path,
      [&](int fd, const std::string& temp) {
        if (gzip) {
          write_gzip(fd, {{header.data(), header.size()}, {data, data_bytes}}, temp);
        } else {
          write_bytes(fd, header.data(), header.size(), temp);
          write_bytes(fd, data, data_bytes, temp);
        }
      },
      verify);
}

void check_output_shape(const Tensor& tensor, const NiftiGeometry& reference, const std::string& path,
                        const char* what) {
  check_defined(tensor, what);
  NNUC_CHECK(tensor.device() == Device::CPU, path, ": ", what, " must be a host tensor, got ", tensor.describe());
  const auto shape = reference.shape();
  NNUC_CHECK(tensor.rank() == 3 && tensor.dim(0) == shape[0] && tensor.dim(1) == shape[1] && tensor.dim(2) == shape[2],
             path, ": ", what, " is ", tensor.describe(), "; expected (a0, a1, a2) = (", shape[0], ", ", shape[1], ", ",
             shape[2], ") of the reference geometry");
}

[[noreturn]] void verification_failed(const std::string& temp, const std::string& what) {
  NIFTI_FAIL(temp, "NIFTI_VERIFY", "re-reading the written file gave ", what, "; the write is abandoned");
}

template <typename Label>
void write_label_values(const std::string& path, const Label* values, std::size_t count,
                        const NiftiGeometry& reference) {
  int largest = 0;
  for (std::size_t index = 0; index < count; ++index) {
    if constexpr (std::is_signed_v<Label>) {
      if (values[index] < 0)
        NIFTI_INVALID(path, "NIFTI_LABEL_VALUE", "label value ", values[index], " at index ", index,
                      " is negative; label maps are written as unsigned integers");
    }
    largest = std::max(largest, static_cast<int>(values[index]));
  }
  const bool as_uint8 = largest < 255;  // nnU-Net: uint8 if max < 255 else uint16
  std::vector<unsigned char> data(count * (as_uint8 ? 1 : 2));
  for (std::size_t index = 0; index < count; ++index) {
    if (as_uint8) {
      data[index] = static_cast<unsigned char>(values[index]);
    } else {
      const auto value = static_cast<std::uint16_t>(values[index]);
      std::memcpy(data.data() + 2 * index, &value, 2);  // host order, as the header nifticlib builds
    }
  }
  const std::vector<unsigned char> header = make_header(reference, as_uint8 ? DT_UINT8 : DT_UINT16, path);
  write_atomically(path, header, data.data(), data.size(), [&](const std::string& temp) {
    const NiftiLabel back = read_nifti_label(temp);
    if (!same_header_geometry(back.geometry, reference)) verification_failed(temp, "a different header geometry");
    const std::int16_t* read = back.labels.data<std::int16_t>();
    for (std::size_t index = 0; index < count; ++index)
      if (read[index] != values[index])
        verification_failed(temp, detail::concat("label ", read[index], " at index ", index, " where ", +values[index],
                                                 " was written"));
  });
}

}  // namespace

void write_nifti_label(const std::string& path, const Tensor& labels, const NiftiGeometry& reference) {
  check_output_shape(labels, reference, path, "labels");
  const auto count = static_cast<std::size_t>(labels.numel());
  switch (labels.dtype()) {
    case DType::i16: write_label_values(path, labels.data<std::int16_t>(), count, reference); break;
    case DType::u8: write_label_values(path, labels.data<std::uint8_t>(), count, reference); break;
    default: NNUC_CHECK(false, path, ": labels are ", labels.describe(), "; expected i16 or u8");
  }
}

void write_nifti_image(const std::string& path, const Tensor& voxels, const NiftiGeometry& reference) {
  check_output_shape(voxels, reference, path, "voxels");
  NNUC_CHECK(voxels.dtype() == DType::f32, path, ": voxels are ", voxels.describe(), "; expected f32");
  const std::vector<unsigned char> header = make_header(reference, DT_FLOAT32, path);
  const float* values = voxels.data<float>();
  const auto count = static_cast<std::size_t>(voxels.numel());
  write_atomically(path, header, reinterpret_cast<const unsigned char*>(values), count * sizeof(float),
                   [&](const std::string& temp) {
                     const NiftiImage back = read_nifti(temp);
                     if (!same_header_geometry(back.geometry, reference))
                       verification_failed(temp, "a different header geometry");
                     const float* read = back.voxels.data<float>();
                     for (std::size_t index = 0; index < count; ++index)
                       if (!(read[index] == values[index] || (std::isnan(read[index]) && std::isnan(values[index]))))
                         verification_failed(temp, detail::concat("value ", read[index], " at index ", index, " where ",
                                                                  values[index], " was written"));
                   });
}

}  // namespace nnuc::data
