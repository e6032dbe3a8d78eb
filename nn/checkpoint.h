// Checkpoints: weights, optimizer state, epoch, RNG states, training log and the network
// configuration, in nnuc's own documented format (nn/README.md, "Checkpoint format"):
//
//   bytes 0..7    magic "NNUCCKPT"
//   bytes 8..11   format version, u32 little-endian (kCheckpointVersion)
//   bytes 12..19  header length H, u64 little-endian
//   H bytes       header: UTF-8 JSON {"metadata": {...}, "tensors": [{"name", "dtype", "shape",
//                 "offset", "bytes"}, ...]}; offsets count from the start of the data section
//   padding       zeros up to a multiple of 64 bytes: the data section starts aligned
//   data          raw little-endian arrays, each starting at a multiple of 64 bytes
//   last 8 bytes  checksum: u64 little-endian, CRC-32 (zlib) of every byte before it, zero-extended
//
// Loading parses only JSON and raw arrays: nothing in a file can run code. Every size and offset is
// checked against the file length before use. Writes are atomic (temp file in the same folder,
// flush + fsync, rename).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kernels/core/tensor.h"

namespace nnuc::nn {

constexpr std::uint32_t kCheckpointVersion = 1;

struct Checkpoint {
  nlohmann::json metadata = nlohmann::json::object();   // epoch, configuration, rng, log, ...
  std::vector<std::pair<std::string, Tensor>> tensors;  // host tensors, in order
  const Tensor* find(const std::string& name) const;
};

// Writes `checkpoint` to `path` atomically. Device tensors are copied to the host first.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads and verifies a checkpoint. Throws IoError naming the file and the problem: wrong magic,
// unsupported version, truncated file, corrupted bytes (checksum), malformed header, an array
// outside the file.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace nnuc::nn
