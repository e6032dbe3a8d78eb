// Bounded inflation of .nii.gz files (rule R12 of shared/spec/reliability.md): libdeflate for
// streams that are whole, zlib's streaming inflater for everything else and for the diagnostics.
#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>

#include "data/nifti/nifti_internal.h"

namespace nnuc::data::nifti_detail {

bool has_gzip_magic(const unsigned char* bytes, std::size_t size) {
  return size >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

namespace {

constexpr std::size_t kInputChunk = 256u << 10;  // compressed bytes read at a time from a file
constexpr std::size_t kMaxZlibSpan = 1u << 30;   // zlib counts in 32-bit uInt

// One or more concatenated gzip members read as one stream. zlib checks each member's CRC-32
// and ISIZE when it reaches the member's end.
class GzipStream {
 public:
  explicit GzipStream(const ByteSource& compressed) : in_(compressed) {
    std::memset(&z_, 0, sizeof z_);
    if (inflateInit2(&z_, 15 + 16) != Z_OK)  // 16: gzip wrapper only
      NIFTI_FAIL(in_.name(), "NIFTI_GZ_CORRUPT", "zlib could not start inflating");
  }
  ~GzipStream() { inflateEnd(&z_); }
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  // Inflates up to `count` bytes into dst; returns fewer only at the end of the last member.
  std::size_t read(unsigned char* dst, std::size_t count) {
    std::size_t done = 0;
    while (done < count && !at_end_) {
      if (z_.avail_in == 0 && !refill())
        NIFTI_FAIL(in_.name(), "NIFTI_GZ_TRUNCATED", "the gzip stream stops after ", in_.size(),
                   " compressed bytes without its end (", produced_ + done, " bytes inflated); the file is truncated");
      const std::size_t span = std::min(count - done, kMaxZlibSpan);
      z_.next_out = dst + done;
      z_.avail_out = static_cast<uInt>(span);
      const int status = inflate(&z_, Z_NO_FLUSH);
      done += span - z_.avail_out;
      if (status == Z_STREAM_END) {
        next_member();
      } else if (status == Z_BUF_ERROR && z_.avail_in == 0) {
        continue;  // needs more input: the loop refills or reports truncation
      } else if (status != Z_OK) {
        NIFTI_FAIL(in_.name(), "NIFTI_GZ_CORRUPT", "zlib reports '", z_.msg != nullptr ? z_.msg : "error", "' (code ",
                   status, ") near compressed byte ", consumed_ - z_.avail_in,
                   "; the gzip data is corrupt (bad CRC-32, length or deflate data)");
      }
    }
    produced_ += done;
    return done;
  }

 private:
  bool refill() {
    if (consumed_ >= in_.size()) return false;
    const std::size_t span = static_cast<std::size_t>(
        std::min<std::uint64_t>(in_.size() - consumed_, in_.contiguous() ? kMaxZlibSpan : kInputChunk));
    if (in_.contiguous() != nullptr) {
      z_.next_in = const_cast<unsigned char*>(in_.contiguous() + consumed_);  // zlib's API is not const
    } else {
      chunk_.resize(kInputChunk);
      in_.read_at(consumed_, chunk_.data(), span);
      z_.next_in = chunk_.data();
    }
    z_.avail_in = static_cast<uInt>(span);
    consumed_ += span;
    return true;
  }

  // After a member's end: the stream ends, or another gzip member follows; anything else is garbage.
  void next_member() {
    const std::uint64_t member_end = consumed_ - z_.avail_in;
    if (member_end == in_.size()) {
      at_end_ = true;
      return;
    }
    unsigned char magic[2] = {0, 0};
    const std::size_t available = static_cast<std::size_t>(std::min<std::uint64_t>(2, in_.size() - member_end));
    in_.read_at(member_end, magic, available);
    if (!has_gzip_magic(magic, available))
      NIFTI_FAIL(in_.name(), "NIFTI_GZ_TRAILING", in_.size() - member_end,
                 " bytes after the end of the gzip stream at byte ", member_end, " are not a gzip member");
    if (inflateReset(&z_) != Z_OK) NIFTI_FAIL(in_.name(), "NIFTI_GZ_CORRUPT", "zlib could not restart");
  }

  const ByteSource& in_;
  z_stream z_;
  std::vector<unsigned char> chunk_;
  std::uint64_t consumed_ = 0;  // compressed bytes handed to zlib
  std::uint64_t produced_ = 0;  // bytes inflated so far
  bool at_end_ = false;
};

using Decompressor = std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)>;

// True when the stream's last 4 bytes (the last gzip member's ISIZE, little-endian) equal
// content_bytes modulo 2^32.
bool trailer_declares(const ByteSource& compressed, std::uint64_t content_bytes) {
  if (compressed.size() < 18) return false;  // the smallest gzip member: 10-byte header, 8-byte trailer
  unsigned char trailer[4];
  compressed.read_at(compressed.size() - 4, trailer, 4);
  const std::uint32_t isize = static_cast<std::uint32_t>(trailer[0]) | static_cast<std::uint32_t>(trailer[1]) << 8 |
                              static_cast<std::uint32_t>(trailer[2]) << 16 |
                              static_cast<std::uint32_t>(trailer[3]) << 24;
  return isize == static_cast<std::uint32_t>(content_bytes);
}

}  // namespace

bool inflate_whole_members(const unsigned char* compressed, std::size_t size, std::size_t content_bytes,
                           ByteBuffer& content) {
  const Decompressor decompressor(libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
  if (!decompressor) return false;
  content.resize(content_bytes);
  std::size_t consumed = 0, produced = 0;
  while (consumed < size) {
    if (!has_gzip_magic(compressed + consumed, size - consumed)) return false;  // trailing bytes
    std::size_t member_in = 0, member_out = 0;
    // Checks the member's CRC-32 and ISIZE; fails rather than write past content_bytes.
    const libdeflate_result result =
        libdeflate_gzip_decompress_ex(decompressor.get(), compressed + consumed, size - consumed,
                                      content.data() + produced, content_bytes - produced, &member_in, &member_out);
    if (result != LIBDEFLATE_SUCCESS) return false;
    consumed += member_in;
    produced += member_out;
  }
  return produced == content_bytes;
}

ByteBuffer inflate_nifti(const ByteSource& compressed, const NiftiReadOptions& options,
                         std::vector<std::string>& warnings) {
  const std::string& name = compressed.name();
  unsigned char magic[2] = {0, 0};
  const std::size_t magic_size = static_cast<std::size_t>(std::min<std::uint64_t>(2, compressed.size()));
  if (magic_size > 0) compressed.read_at(0, magic, magic_size);
  if (!has_gzip_magic(magic, magic_size))
    NIFTI_FAIL(name, "NIFTI_GZ_MAGIC", "the name ends in .gz but the ", compressed.size(),
               "-byte file does not start with the gzip magic 1f 8b");
  GzipStream stream(compressed);

  // The fixed header first, into a constant-size buffer, and validated before anything is sized.
  unsigned char header[kNifti2HeaderBytes];
  std::size_t got = stream.read(header, kNifti1HeaderBytes);
  if (got == kNifti1HeaderBytes) {
    std::uint32_t size_field;
    std::memcpy(&size_field, header, 4);
    if (size_field == kNifti2HeaderBytes || byte_swap32(size_field) == kNifti2HeaderBytes)
      got += stream.read(header + got, kNifti2HeaderBytes - kNifti1HeaderBytes);
  }
  const NiftiHeaderInfo info = validate_fixed_header(header, got, std::nullopt, name, options);

  // R12: a deflate stream expands at most 1032:1, so a small file cannot hold a large image.
  const std::uint64_t expected = info.vox_offset + info.data_bytes;  // both <= max_bytes (validated)
  if (expected < info.vox_offset) NIFTI_FAIL(name, "NIFTI_SIZE_OVERFLOW", "vox_offset + data bytes overflow 64 bits");
  const std::uint64_t deflate_bound =
      compressed.size() > (std::numeric_limits<std::uint64_t>::max() - 65536) / kDeflateMaxRatio
          ? std::numeric_limits<std::uint64_t>::max()
          : compressed.size() * kDeflateMaxRatio + 65536;
  if (expected > deflate_bound)
    NIFTI_FAIL(name, "NIFTI_GZ_TRUNCATED", "the header declares vox_offset + data = ", expected, " bytes but a ",
               compressed.size(), "-byte gzip file can hold at most ", deflate_bound,
               " (deflate expands at most 1032:1); the file is truncated or its header is corrupt");

  // A stream whose trailer says it ends with exactly the declared content (ISIZE, the last member's
  // length modulo 2^32, in the last 4 bytes) is inflated by libdeflate in one call per member, straight
  // into a buffer of the full size. A truncated stream does not end with its ISIZE, so it takes the
  // growing path below and fails before the full allocation (R12); a forged trailer costs an
  // allocation whose pages are never touched, then the same path.
  ByteBuffer content;
  if (trailer_declares(compressed, expected)) {
    try {
      ByteBuffer file;
      const unsigned char* bytes = compressed.contiguous();
      const auto size = static_cast<std::size_t>(compressed.size());
      if (bytes == nullptr) {
        file.resize(size);
        compressed.read_at(0, file.data(), size);
        bytes = file.data();
      }
      if (inflate_whole_members(bytes, size, static_cast<std::size_t>(expected), content)) return content;
    } catch (const std::bad_alloc&) {
      // Not enough memory for the whole file and content at once: the streaming path needs less.
    }
  }

  // Anything else through zlib. The buffer grows with what the stream delivers, so truncation fails
  // before the full size.
  ByteBuffer().swap(content);
  content.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(expected, 1u << 20)));
  content.insert(content.end(), header, header + got);
  while (content.size() < expected) {
    if (content.size() == content.capacity())
      content.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(expected, 2 * content.capacity())));
    const std::size_t old_size = content.size();
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(expected - old_size, content.capacity() - old_size));
    content.resize(old_size + want);
    const std::size_t delivered = stream.read(content.data() + old_size, want);
    if (delivered < want)
      NIFTI_FAIL(name, "NIFTI_GZ_TRUNCATED", "the gzip stream holds ", old_size + delivered,
                 " bytes but the header declares vox_offset + data = ", expected, " bytes; the file is truncated");
  }

  // Read to the end so that zlib checks CRC-32 and ISIZE; stop early on a decompression bomb.
  std::vector<unsigned char> scratch(64u << 10);
  std::uint64_t extra = 0;
  for (;;) {
    const std::size_t delivered = stream.read(scratch.data(), scratch.size());
    extra += delivered;
    if (extra > kGzipSlackBytes)
      NIFTI_FAIL(name, "NIFTI_GZ_OVERSIZE", "the gzip stream inflates to more than ", kGzipSlackBytes,
                 " bytes beyond the ", expected, " bytes the header declares (decompression bomb guard)");
    if (delivered < scratch.size()) break;
  }
  if (extra > 0)
    warnings.push_back(
        detail::concat("NIFTI_W_TRAILING_BYTES: ", extra, " inflated bytes after the image data are ignored"));
  return content;
}

}  // namespace nnuc::data::nifti_detail
