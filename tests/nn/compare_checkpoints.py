#!/usr/bin/env python3
"""Compares two nnuc checkpoints (nn/README.md, "Checkpoint format") bit for bit.

    compare_checkpoints.py A.nnuc B.nnuc

Equal: the same tensor names, dtypes, shapes and bytes, and the same trainer state (epoch, next
iteration indices, best EMA) and per-epoch losses and pseudo Dice. Timestamps may differ.
Exit code 0 equal, 1 different (each difference printed), 2 unreadable file.
"""
import json
import struct
import sys
import zlib


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"NNUCCKPT":
        sys.exit(f"{path}: not an nnuc checkpoint")
    header_length = struct.unpack_from("<Q", data, 12)[0]
    if struct.unpack_from("<Q", data, len(data) - 8)[0] != zlib.crc32(data[:-8]):
        sys.exit(f"{path}: checksum mismatch")
    header = json.loads(data[20:20 + header_length])
    start = (20 + header_length + 63) // 64 * 64
    tensors = {}
    for entry in header["tensors"]:
        offset = start + entry["offset"]
        tensors[entry["name"]] = (entry["dtype"], tuple(entry["shape"]), data[offset:offset + entry["bytes"]])
    return header["metadata"], tensors


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    (meta_a, tensors_a), (meta_b, tensors_b) = read(sys.argv[1]), read(sys.argv[2])
    differences = []
    if list(tensors_a) != list(tensors_b):
        differences.append("tensor names differ")
    for name, (dtype, shape, values) in tensors_a.items():
        if name in tensors_b and tensors_b[name] != (dtype, shape, values):
            differences.append(f"tensor {name} differs")
    for key in ("current_epoch", "next_training_iteration", "next_validation_iteration", "best_ema", "seed"):
        if meta_a["trainer"].get(key) != meta_b["trainer"].get(key):
            differences.append(f"trainer.{key}: {meta_a['trainer'].get(key)} vs {meta_b['trainer'].get(key)}")
    for key in ("train_losses", "val_losses", "mean_fg_dice", "ema_fg_dice", "lrs", "skipped_steps"):
        if meta_a["log"].get(key) != meta_b["log"].get(key):
            differences.append(f"log.{key}: {meta_a['log'].get(key)} vs {meta_b['log'].get(key)}")
    for line in differences:
        print(f"{sys.argv[1]} vs {sys.argv[2]}: {line}")
    print(f"compared {len(tensors_a)} tensors: {'equal' if not differences else 'DIFFERENT'}")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
