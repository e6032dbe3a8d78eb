// Channel concatenation and its inverse, on the last (channel) axis of channels-last tensors.
// The U-Net decoder concatenates [upsampled, skip] (spec §5.3: upsampled first); the backward of
// the concatenation splits the gradient at the same place.
//
// Pure data movement: any dtype on CPU and CUDA, results bit-identical on both devices.
#pragma once

#include <cstdint>
#include <utility>

#include "kernels/core/context.h"
#include "kernels/core/tensor.h"

namespace nnuc {

// concat_channels: out[..., 0:Ca] = a, out[..., Ca:Ca+Cb] = b
// requires: a, b defined, on ctx's device, same dtype (any), same rank >= 1, equal in every axis
//           but the last; Ca = a's last extent >= 1, Cb = b's >= 1.
// ensures:  returns a new tensor (..., Ca + Cb) of a's dtype.
Tensor concat_channels(const Context& ctx, const Tensor& a, const Tensor& b);

// split_channels: first = x[..., 0:channels_first], second = x[..., channels_first:C]
// requires: x defined, on ctx's device, rank >= 1, any dtype; 1 <= channels_first < C (x's last extent).
// ensures:  returns two new tensors (first allocated first); split_channels(concat_channels(a, b),
//           Ca) gives back a and b exactly.
std::pair<Tensor, Tensor> split_channels(const Context& ctx, const Tensor& x, std::int64_t channels_first);

}  // namespace nnuc
