// NIfTI reading and writing (data/nifti/nifti_io.h) of one spleen-sized CT case, beside zlib doing
// only the gzip part of the same work on the same bytes, one thread, in the same run.
//
// The case: the synthetic spleen preset (data/synth) at 96 x 512 x 512, CT in integer Hounsfield units
// with Gaussian noise (sigma 12 HU), stored as f32 (100.7 MB of voxels; nnuc writes images as f32), and
// its label map (u8, 25.2 MB, one spleen).
//
// Napkin math (bytes = uncompressed bytes handled per iteration):
//   read .nii.gz   = inflate (serial: one gzip member) + decode to f32 (one 100.7 MB pass) + checks.
//                    zlib inflates at roughly 0.3-0.5 GB/s per core, libdeflate at roughly 1 GB/s,
//                    the decode pass runs at memory speed (~10 GB/s): the gzip step is the time.
//   read .nii      = the floor: pread of 100.7 MB from the page cache + the decode pass.
//   write labels   = build u8 bytes + deflate (level 1) + the verifying re-read (inflate + compare).
//   read external  = NNUC_BENCH_NIFTI's file (bytes/s of its voxels as f32).
//   zlib_inflate / zlib_deflate1 = zlib alone on the same bytes, one thread, whole buffer in memory:
//                    what a reader or writer built on zlib (nifticlib's znzlib, ITK, nibabel) pays.
// Counters: bytes/s of uncompressed NIfTI content.
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "data/nifti/nifti_io.h"
#include "data/synth/synth.h"

namespace nnuc {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  fs::path folder;
  data::NiftiGeometry geometry;
  Tensor image;  // f32 (a0, a1, a2)
  Tensor label;  // u8
  std::string image_gz, image_nii, label_gz;
  std::vector<unsigned char> image_gz_bytes;  // the .nii.gz file's bytes
  std::vector<unsigned char> label_bytes;     // the label map's u8 voxels

  Fixture() {
    data::synth::SynthConfig config = data::synth::synth_preset("spleen");
    config.shape_min = config.shape_max = {96, 512, 512};
    const data::synth::SynthCase synthetic = data::synth::generate_synthetic_case(config, 0);
    image = synthetic.channels.at(0);
    label = Tensor::empty_cpu(synthetic.label.shape(), DType::u8);
    const std::int16_t* from = synthetic.label.data<std::int16_t>();
    for (std::int64_t index = 0; index < label.numel(); ++index)
      label.data<std::uint8_t>()[index] = static_cast<std::uint8_t>(from[index]);
    label_bytes.assign(label.data<std::uint8_t>(), label.data<std::uint8_t>() + label.numel());
    const auto& plan = synthetic.geometry;
    geometry = data::make_nifti_geometry(plan.shape, plan.spacing, plan.origin, {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}});
    std::string pattern = (fs::temp_directory_path() / "nnuc_nifti_bench_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    folder = pattern;
    image_gz = (folder / "ct.nii.gz").string();
    image_nii = (folder / "ct.nii").string();
    label_gz = (folder / "label.nii.gz").string();
    data::write_nifti_image(image_gz, image, geometry);
    data::write_nifti_image(image_nii, image, geometry);
    std::ifstream in(image_gz, std::ios::binary);
    image_gz_bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ~Fixture() { fs::remove_all(folder); }
};

Fixture& fixture() {
  static Fixture instance;
  return instance;
}

void set_bytes(benchmark::State& state, double bytes) {
  state.counters["bytes/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ReadImageGz(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) benchmark::DoNotOptimize(data::read_nifti(f.image_gz).voxels.raw());
  set_bytes(state, double(f.image.bytes()));
  state.counters["compressed_MB"] = double(f.image_gz_bytes.size()) / 1e6;
}
BENCHMARK(BM_ReadImageGz)->Name("nifti/read/ct_f32_gz")->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_ReadImageNii(benchmark::State& state) {
  Fixture& f = fixture();
  for (auto _ : state) benchmark::DoNotOptimize(data::read_nifti(f.image_nii).voxels.raw());
  set_bytes(state, double(f.image.bytes()));
}
BENCHMARK(BM_ReadImageNii)->Name("nifti/read/ct_f32_nii")->Unit(benchmark::kMillisecond)->MinTime(2);

// Any file: NNUC_BENCH_NIFTI=/path/to/image.nii.gz (skipped when unset).
void BM_ReadExternal(benchmark::State& state) {
  const char* file = std::getenv("NNUC_BENCH_NIFTI");
  if (file == nullptr) {
    state.SkipWithError("set NNUC_BENCH_NIFTI to a NIfTI file");
    return;
  }
  std::int64_t bytes = 0;
  for (auto _ : state) {
    const data::NiftiImage image = data::read_nifti(file);
    bytes = image.voxels.numel() * 4;
    benchmark::DoNotOptimize(image.voxels.raw());
  }
  set_bytes(state, double(bytes));
}
BENCHMARK(BM_ReadExternal)->Name("nifti/read/external")->Unit(benchmark::kMillisecond)->MinTime(2);

// Peer: zlib inflating the same .nii.gz bytes into a preallocated buffer, one call.
void BM_ZlibInflate(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<unsigned char> out(f.image.bytes() + 4096);
  for (auto _ : state) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 16) != Z_OK) std::abort();
    z.next_in = f.image_gz_bytes.data();
    z.avail_in = static_cast<uInt>(f.image_gz_bytes.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    if (inflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
    inflateEnd(&z);
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, double(f.image.bytes()));
}
BENCHMARK(BM_ZlibInflate)->Name("nifti/zlib_inflate/ct_f32_gz")->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_WriteLabelGz(benchmark::State& state) {
  Fixture& f = fixture();
  const std::string path = (f.folder / "written_label.nii.gz").string();
  for (auto _ : state) data::write_nifti_label(path, f.label, f.geometry);
  set_bytes(state, double(f.label.bytes()));
}
BENCHMARK(BM_WriteLabelGz)->Name("nifti/write/label_u8_gz")->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_WriteImageGz(benchmark::State& state) {
  Fixture& f = fixture();
  const std::string path = (f.folder / "written_ct.nii.gz").string();
  for (auto _ : state) data::write_nifti_image(path, f.image, f.geometry);
  set_bytes(state, double(f.image.bytes()));
}
BENCHMARK(BM_WriteImageGz)->Name("nifti/write/ct_f32_gz")->Unit(benchmark::kMillisecond)->MinTime(2);

// Peer: zlib deflating the label bytes at level 1 (gzip wrapper) into memory, one call.
void BM_ZlibDeflateLabel(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<unsigned char> out(compressBound(static_cast<uLong>(f.label_bytes.size())) + 64);
  for (auto _ : state) {
    z_stream z{};
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
    z.next_in = f.label_bytes.data();
    z.avail_in = static_cast<uInt>(f.label_bytes.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
    deflateEnd(&z);
    benchmark::DoNotOptimize(out.data());
  }
  set_bytes(state, double(f.label.bytes()));
}
BENCHMARK(BM_ZlibDeflateLabel)->Name("nifti/zlib_deflate1/label_u8")->Unit(benchmark::kMillisecond)->MinTime(2);

}  // namespace
}  // namespace nnuc
