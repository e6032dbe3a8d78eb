// nnU-Net's state_dict (dynamic_network_architectures' PlainConvUNet / ResidualEncoderUNet, spec §5)
// loaded into nnuc's UNet of the same configuration.
//
// Names. nnuc name (nn/unet.cpp)                 nnU-Net name
//   encoder.S.B.{conv,norm}.P          (plain)    encoder.stages.S.0.convs.B.{conv,norm}.P
//   stem.{conv,norm}.P                 (resenc)   encoder.stem.convs.0.{conv,norm}.P
//   encoder.S.B.conv{1,2}.{conv,norm}.P (resenc)  encoder.stages.S.blocks.B.conv{1,2}.{conv,norm}.P
//   encoder.S.B.skip.{conv,norm}.P     (resenc)   encoder.stages.S.blocks.B.skip.I.{conv,norm}.P
//                                                 (I = 1 after the skip's average pool, else 0)
//   decoder.J.transpconv.P                        decoder.transpconvs.J.P
//   decoder.J.C.{conv,norm}.P                     decoder.stages.J.convs.C.{conv,norm}.P
//   decoder.J.seg_head.P                          decoder.seg_layers.J.P
// nnU-Net's state_dict also holds each tensor under other names: "X.all_modules.0.P" is "X.conv.P"
// and "X.all_modules.K.P" (K >= 1) is "X.norm.P" (ConvDropoutNormReLU's Sequential), and
// "decoder.encoder.*" is "encoder.*" (the decoder keeps the encoder). Such aliases must hold the
// same shape and values as the name they alias. A "module." or "_orig_mod." prefix (DDP,
// torch.compile) is dropped.
//
// Layouts. torch conv weight (Cout, Cin, kD, kH, kW) -> nnuc (Cout, kD, kH, kW, Cin); transposed
// conv (Cin, Cout, sD, sH, sW) -> nnuc (Cin, sD, sH, sW, Cout); a 2-d network's (.., kH, kW) is
// nnuc's kD = 1. Norm weights/biases and conv biases are (C) in both.
#pragma once

#include <string>

#include "nn/pth/pth_reader.h"
#include "nn/unet.h"

namespace nnuc::nn {

// nnU-Net's name of nnuc parameter `nnuc_name` in a network of `config` (table above).
// requires: nnuc_name is a parameter name of UNet(config).
std::string nnunet_parameter_name(const UNetConfig& config, const std::string& nnuc_name);

// nnU-Net's name with wrapper prefixes dropped and aliases resolved to the name nnuc maps
// ("decoder.encoder.stages.0.0.convs.1.all_modules.1.bias" -> "encoder.stages.0.0.convs.1.norm.bias").
std::string canonical_nnunet_name(const std::string& torch_name);

// load_nnunet_weights (declared in nn/pth/pth_reader.h) applies this mapping.

}  // namespace nnuc::nn
