// .nii.gz bytes in both directions: the libdeflate step of the reader (whole members only; every
// other stream goes to zlib's diagnostics) and the writer's chunked, parallel gzip (one member,
// the same bytes at any thread count, readable by plain zlib).
#include <gtest/gtest.h>
#include <omp.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "data/nifti/nifti_internal.h"
#include "data/nifti/nifti_io.h"
#include "tests/data/nifti_test_files.h"
#include "tests/support/scratch_folder.h"
#include "tests/support/test_support.h"

namespace {

using namespace nnuc::testing::nifti;
using nnuc::data::nifti_detail::ByteBuffer;
using nnuc::data::nifti_detail::inflate_whole_members;

// Fresh content that deflate neither stores nor shrinks to nothing: runs of repeated bytes between
// random ones, as labels and integer CT values give.
Bytes mixed_content(std::size_t size) {
  Bytes content(size);
  std::uniform_int_distribution<int> byte(0, 255), run(1, 64);
  std::size_t index = 0;
  while (index < size) {
    const auto value = static_cast<unsigned char>(byte(nnuc::testing::rng()));
    const std::size_t length = std::min<std::size_t>(size - index, static_cast<std::size_t>(run(nnuc::testing::rng())));
    const bool repeat = byte(nnuc::testing::rng()) < 128;
    for (std::size_t step = 0; step < length; ++step)
      content[index + step] = repeat ? value : static_cast<unsigned char>(byte(nnuc::testing::rng()));
    index += length;
  }
  return content;
}

bool inflates_to(const Bytes& stream, std::size_t content_bytes, Bytes* content = nullptr) {
  ByteBuffer out;
  const bool whole = inflate_whole_members(stream.data(), stream.size(), content_bytes, out);
  if (whole && content != nullptr) content->assign(out.begin(), out.end());
  return whole;
}

TEST(InflateWholeMembers, OneOrSeveralMembersInflateToTheirContent) {
  const Bytes content = mixed_content(300000 + static_cast<std::size_t>(nnuc::testing::rng()() % 1000));
  const std::vector<Bytes> streams = {
      gzip(content, 1), gzip(content, 9), gzip_members(content, {3, 347}),
      gzip_members(content, {content.size() / 2, content.size() / 2, content.size() - 1})};  // an empty member
  for (std::size_t index = 0; index < streams.size(); ++index) {
    Bytes back;
    ASSERT_TRUE(inflates_to(streams[index], content.size(), &back)) << "stream " << index;
    EXPECT_TRUE(back == content) << "stream " << index;
  }
  Bytes with_empty_member = gzip(content);
  const Bytes empty = gzip({});
  with_empty_member.insert(with_empty_member.end(), empty.begin(), empty.end());
  EXPECT_TRUE(inflates_to(with_empty_member, content.size()));
}

TEST(InflateWholeMembers, AnythingButExactlyTheContentIsLeftToTheDiagnosingReader) {
  const Bytes content = mixed_content(200000);
  const Bytes stream = gzip_members(content, {70000});
  EXPECT_FALSE(inflates_to(stream, content.size() - 1)) << "more content than declared";
  EXPECT_FALSE(inflates_to(stream, content.size() + 1)) << "less content than declared";
  for (std::size_t cut :
       {std::size_t{1}, std::size_t{10}, stream.size() / 7, stream.size() / 2, stream.size() - 8, stream.size() - 1})
    EXPECT_FALSE(inflates_to(Bytes(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(cut)), content.size()))
        << "truncated to " << cut << " bytes";
  Bytes garbage = stream;
  garbage.insert(garbage.end(), {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_FALSE(inflates_to(garbage, content.size())) << "trailing garbage";
  Bytes half_magic = stream;
  half_magic.push_back(0x1f);
  EXPECT_FALSE(inflates_to(half_magic, content.size())) << "trailing half magic";
  for (std::size_t from_end : {std::size_t{8}, std::size_t{3}}) {  // the CRC-32, then ISIZE
    Bytes corrupt = stream;
    corrupt[corrupt.size() - from_end] ^= 0x40;
    EXPECT_FALSE(inflates_to(corrupt, content.size())) << "trailer byte " << from_end << " from the end";
  }
  Bytes corrupt_data = stream;
  corrupt_data[corrupt_data.size() / 3] ^= 0xff;
  EXPECT_FALSE(inflates_to(corrupt_data, content.size())) << "a flipped deflate byte";
}

class NiftiGzipWrite : public nnuc::testing::ScratchFolderTest {
 protected:
  static Bytes file_bytes(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
  }
  // The file inflated by zlib as exactly one gzip member that ends where the file ends.
  static Bytes inflate_one_member(const Bytes& file) {
    z_stream z;
    std::memset(&z, 0, sizeof z);
    EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
    Bytes out(64u << 20);
    z.next_in = const_cast<unsigned char*>(file.data());
    z.avail_in = static_cast<uInt>(file.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    const int status = inflate(&z, Z_FINISH);
    EXPECT_EQ(status, Z_STREAM_END) << (z.msg != nullptr ? z.msg : "");
    EXPECT_EQ(z.avail_in, 0u) << "bytes after the first gzip member";
    out.resize(z.total_out);
    inflateEnd(&z);
    return out;
  }
  // Writes with 1 and with 3 OpenMP threads: the same bytes; returns them.
  template <typename Write>
  Bytes written_at_any_thread_count(const std::string& name, Write&& write) {
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    write(path("1_" + name));
    omp_set_num_threads(3);
    write(path("3_" + name));
    omp_set_num_threads(threads);
    const Bytes one = file_bytes(path("1_" + name)), three = file_bytes(path("3_" + name));
    EXPECT_TRUE(one == three) << name << ": " << one.size() << " bytes with 1 thread, " << three.size() << " with 3";
    return one;
  }
};

TEST_F(NiftiGzipWrite, OneMemberTheSameBytesAtAnyThreadCountAcrossChunkBoundaries) {
  // Content bytes (352-byte header + voxels): exactly two 1 MiB chunks; then 2.5 chunks of f32.
  const std::array<std::int64_t, 3> exact{32, 25, 2621};  // 352 + 2,096,800 = 2^21
  const nnuc::Tensor labels =
      nnuc::testing::random_labels(nnuc::Shape{exact[0], exact[1], exact[2]}, nnuc::DType::u8, 4);
  const auto label_geometry =
      nnuc::data::make_nifti_geometry(exact, {1.5, 0.8, 0.8}, {-3, 7, 11}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
  const Bytes label_file = written_at_any_thread_count(
      "labels.nii.gz", [&](const std::string& file) { nnuc::data::write_nifti_label(file, labels, label_geometry); });
  const Bytes label_content = inflate_one_member(label_file);
  ASSERT_EQ(label_content.size(), std::size_t{1} << 21);
  EXPECT_TRUE(std::equal(label_content.begin() + 352, label_content.end(), labels.data<std::uint8_t>()));

  const std::array<std::int64_t, 3> odd{17, 123, 301};
  nnuc::Tensor image =
      nnuc::testing::random_uniform(nnuc::Shape{odd[0], odd[1], odd[2]}, nnuc::DType::f32, -1000, 1000);
  float* values = image.data<float>();
  for (std::int64_t index = 0; index < image.numel(); index += 3) values[index] = std::round(values[index]);
  const auto image_geometry =
      nnuc::data::make_nifti_geometry(odd, {2, 1, 1}, {0, 0, 0}, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
  const Bytes image_file = written_at_any_thread_count(
      "image.nii.gz", [&](const std::string& file) { nnuc::data::write_nifti_image(file, image, image_geometry); });
  const Bytes image_content = inflate_one_member(image_file);
  ASSERT_EQ(image_content.size(), 352 + image.bytes());
  EXPECT_EQ(std::memcmp(image_content.data() + 352, values, image.bytes()), 0);
  const nnuc::data::NiftiImage back = nnuc::data::read_nifti(path("3_image.nii.gz"));
  EXPECT_EQ(std::memcmp(back.voxels.data<float>(), values, image.bytes()), 0);
}

}  // namespace
