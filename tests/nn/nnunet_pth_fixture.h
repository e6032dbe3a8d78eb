// The fixtures of tests/nn/fixtures/gen_nnunet_pth.py (checkpoints written by nnU-Net itself, with
// torch's input and logits) for the CPU and GPU tests of nn/pth/.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/core/tensor.h"

namespace nnuc::testing {

inline std::filesystem::path nnunet_pth_fixtures() {
  return std::filesystem::path(__FILE__).parent_path() / "fixtures" / "nnunet_pth";
}

inline const nlohmann::json& nnunet_pth_manifest() {
  static const nlohmann::json json = [] {
    std::ifstream in(nnunet_pth_fixtures() / "manifest.json");
    return nlohmann::json::parse(in);
  }();
  return json;
}

// The manifest entry of fixture network `name` ("plain_3d", "plain_2d", "resenc_3d").
inline const nlohmann::json& nnunet_pth_network(const std::string& name) {
  for (const auto& entry : nnunet_pth_manifest()["networks"])
    if (entry["name"] == name) return entry;
  throw std::runtime_error("no fixture network " + name);
}

inline std::string nnunet_pth_checkpoint(const nlohmann::json& entry) {
  return (nnunet_pth_fixtures() / entry["checkpoint"].get<std::string>()).string();
}

// The raw f32 file `field` ("input" or "logits") of a fixture network, torch's (N, C, [D,] H, W)
// turned into nnuc's channels-last (N, D, H, W, C) (2-d: D = 1), as a host tensor.
inline Tensor nnunet_pth_array(const nlohmann::json& entry, const std::string& field) {
  const auto shape = entry[field + "_shape"].get<std::vector<std::int64_t>>();
  const std::int64_t n = shape[0], c = shape[1], d = shape.size() == 5 ? shape[2] : 1;
  const std::int64_t h = shape[shape.size() - 2], w = shape.back(), spatial = d * h * w;
  std::vector<float> values(static_cast<std::size_t>(n * c * spatial));
  std::ifstream in(nnunet_pth_fixtures() / entry[field].get<std::string>(), std::ios::binary);
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!in) throw std::runtime_error("cannot read fixture " + entry[field].get<std::string>());
  std::vector<float> out(values.size());
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t v = 0; v < spatial; ++v)
        out[static_cast<std::size_t>((b * spatial + v) * c + ch)] =
            values[static_cast<std::size_t>((b * c + ch) * spatial + v)];
  return Tensor::from_vector(Shape{n, d, h, w, c}, out);
}

}  // namespace nnuc::testing
