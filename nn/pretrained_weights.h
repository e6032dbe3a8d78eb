// Pretrained weights for fine-tuning (nnU-Net's `nnUNetv2_train -pretrained_weights FILE`, its
// load_pretrained_weights): a network trained on one dataset initializes the training of another whose
// plans were moved over (same topology), including one with other labels.
#pragma once

#include <string>

#include "nn/unet.h"

namespace nnuc::nn {

// Copies every parameter of `network` except the segmentation heads (is_segmentation_head) from the
// checkpoint at `path`: nnuc's .nnuc (nn/checkpoint.h) or nnU-Net's .pth (nn/pth/pth_reader.h), told
// apart by their first bytes, whatever the file is named. Each of those parameters must be in the file
// with the same shape; the heads keep their initialization and the file's other tensors are ignored
// (optimizer state, heads for other classes). InvalidInput naming the file and listing every missing or
// mis-shaped parameter, before any parameter is written; IoError for an unreadable file. Returns the
// number of parameters copied.
int load_pretrained_weights(UNet& network, const std::string& path);

}  // namespace nnuc::nn
