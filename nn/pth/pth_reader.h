// Reading checkpoints written by nnU-Net itself (fold_X/checkpoint_final.pth, spec §6.7, §8.1).
//
// torch.save writes a zip archive (stored, not compressed) whose members share one top folder:
//   <top>/data.pkl       the pickled object (nn/pth/pickle.h reads it; nothing in it is run)
//   <top>/data/<key>     the raw bytes of each storage, little-endian
//   <top>/byteorder      "little" (absent in older files: little)
//   <top>/version, <top>/.format_version, ...   ignored
// nnU-Net's checkpoint is a dict: network_weights (the network's state_dict), optimizer_state,
// grad_scaler_state, logging, _best_ema, current_epoch, init_args, trainer_name,
// inference_allowed_mirroring_axes. nnuc reads the weights and four scalar fields; the others are
// parsed (bounded) and skipped, whatever classes they name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/core/tensor.h"
#include "nn/pth/pickle.h"

namespace nnuc::nn {

// A zip archive read through libzip. Every read is bounded by the caller's limit and by the archive.
class ZipArchive {
 public:
  // Throws IoError naming `path` when it cannot be opened or is not a (consistent) zip archive.
  explicit ZipArchive(const std::string& path);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  // Uncompressed size of member `name`; IoError when absent.
  std::uint64_t size_of(const std::string& name) const;
  // The bytes of member `name`. requires: its size <= max_bytes (else IoError naming both). A
  // compressed member may not claim more than 1100 × its compressed size (deflate's limit is ~1032).
  std::vector<std::uint8_t> read(const std::string& name, std::uint64_t max_bytes) const;

 private:
  std::string path_;
  void* archive_ = nullptr;  // zip_t*
};

constexpr std::uint64_t kMaxPickleBytes = std::uint64_t{256} << 20;  // data.pkl
constexpr std::uint64_t kMaxStorageBytes = std::uint64_t{64} << 30;  // one storage member

// A torch.save archive: the parsed data.pkl, with its storages read on request.
class TorchArchive {
 public:
  // Throws IoError naming `path`: not a zip, no <top>/data.pkl, big-endian byteorder, malformed pickle.
  explicit TorchArchive(const std::string& path);

  const std::string& path() const { return zip_.path(); }
  const pickle::Pickle& pickle() const { return pickle_; }
  const pickle::Value& root() const { return pickle_.at(pickle_.root); }

  // The tensor `ref` as a host f32 tensor of its shape (f16 / bf16 / f64 / integer storages are
  // converted). requires: a contiguous view (strides of a row-major layout) that lies inside its
  // storage, and a storage member holding exactly numel × element-size bytes. `name` is used in
  // messages. Throws IoError otherwise.
  Tensor load_tensor(const pickle::TensorRef& ref, const std::string& name) const;

 private:
  ZipArchive zip_;
  std::string top_;  // "checkpoint_final/" (torch names the top folder after the file)
  pickle::Pickle pickle_;
};

struct NnunetCheckpoint {
  std::vector<std::pair<std::string, Tensor>> network_weights;  // torch names, host f32, in file order
  std::string trainer_name;
  std::vector<int> inference_allowed_mirroring_axes;  // empty if None
  std::string configuration;                          // init_args["configuration"] when present
  int current_epoch = -1;                             // -1 when absent
};

// Reads nnU-Net's checkpoint dict from `path`. network_weights is required (a dict of tensors);
// trainer_name, inference_allowed_mirroring_axes, init_args.configuration and current_epoch are
// read when present. A kept field built from a class nnuc does not read (e.g. os.system) is an
// IoError naming the field, the class and the file; the same in a skipped field is ignored.
NnunetCheckpoint read_nnunet_checkpoint(const std::string& path);

class UNet;
// Copies `checkpoint.network_weights` (nnU-Net's PlainConvUNet / ResidualEncoderUNet state_dict) into
// `network`, an nnuc UNet of the same configuration, on any device, f32 or f64 parameters. Names and
// layouts are mapped as nn/pth/nnunet_weights.h describes (torch conv (Cout, Cin, k...) -> nnuc
// (Cout, k..., Cin); 2-d networks get D = 1); aliases must hold the same values as what they alias.
// Throws InvalidInput naming `source_for_errors`, before any parameter is written, listing every
// tensor that is missing, unexpected, mis-shaped (both shapes) or an alias with other values.
// With `pretrained` (fine-tuning, nnU-Net's load_pretrained_weights): the segmentation heads
// (decoder.J.seg_head, nnU-Net's '.seg_layers.') keep their values and tensors no parameter takes
// are ignored; every other parameter must still be there with its shape.
// Returns the number of parameters written. Defined in nn/pth/nnunet_weights.cpp.
int load_nnunet_weights(UNet& network, const NnunetCheckpoint& checkpoint, const std::string& source_for_errors,
                        bool pretrained = false);

}  // namespace nnuc::nn
