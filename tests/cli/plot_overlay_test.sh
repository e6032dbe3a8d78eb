#!/usr/bin/env bash
# nnuc plot-overlay (nnUNetv2_plot_overlay_pngs) on the tiny synthetic dataset:
#   - raw mode: one PNG per training case whose pixels equal a numpy transcription of nnU-Net's
#     overlay_plots.py (select_slice_to_plot2 + generate_overlay) on the NIfTI arrays read with nibabel
#     in SimpleITK's axis order; this also pins the picture's orientation (rows = the j axis, row 0 on
#     top). The same comparison against nnunetv2's own plot_overlay gave identical pixels (2026-12-05).
#   - preprocessed mode (the default): one PNG per case of each configuration, the sizes of its slices;
#   - usage errors (exit 2) name what is wrong; a damaged case fails alone, named (exit 1).
#   plot_overlay_test.sh PATH_TO_NNUC
set -uo pipefail
nnuc="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/../support/cli_expect.sh"
py=/usr/bin/python3  # Debian's interpreter with python3-nibabel and python3-numpy (scripts/setup.sh)
[ -x "$py" ] || py=python3

raw="$work/raw/Dataset900_Tiny"
run "$work/synth.log" "$nnuc" synth --preset tiny -o "$raw"
run "$work/plan.log" "$nnuc" plan -i "$raw" -o "$work/pp" -q
expect 0 "plot-overlay --use_raw" -- "$nnuc" plot-overlay -i "$raw" --use_raw -o "$work/raw_png" -np 2
contains "5 of 5 cases drawn" "plot-overlay --use_raw"
"$py" - "$raw" "$work/raw_png" <<'EOF' || failures=$((failures + 1))
import glob, os, struct, sys, zlib
import nibabel as nib, numpy as np

def read_png(path):  # 8-bit RGB or RGBA, non-interlaced: enough for cairo's and matplotlib's files
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR": header = struct.unpack(">IIBBBBB", body)
        if kind == b"IDAT": idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    out, previous = np.zeros((height, stride), np.int32), np.zeros(stride, np.int32)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], np.frombuffer(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)], np.uint8).astype(np.int32)
        row = np.zeros(stride, np.int32)
        for x in range(stride):
            a = row[x - channels] if x >= channels else 0
            b, c = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 0: pred = 0
            elif kind == 1: pred = a
            elif kind == 2: pred = b
            elif kind == 3: pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            row[x] = (line[x] + pred) & 255
        out[y], previous = row, row
    return out.reshape(height, width, channels)[..., :3]

colors = ("000000", "4363d8", "f58231", "3cb44b", "e6194B", "911eb4", "ffe119", "bfef45", "42d4f4", "f032e6",
          "000075", "9A6324", "808000", "800000", "469990")
def nnunet_overlay(image, seg, intensity=0.6):  # nnunetv2/utilities/overlay_plots.py, generate_overlay
    image = np.tile(np.copy(image)[:, :, None], (1, 1, 3))
    image = image - image.min()
    image = image / image.max() * 255
    mapping = {label: rank for rank, label in enumerate(np.sort(np.unique(seg)))}
    for label in mapping:
        image[seg == label] += intensity * np.array([int(colors[mapping[label]][i:i + 2], 16) for i in (0, 2, 4)])
    image = image / image.max() * 255
    return image.astype(np.uint8)
def nnunet_slice(seg):  # select_slice_to_plot2
    classes = [c for c in np.sort(np.unique(seg)) if c > 0]
    per_slice = np.zeros((seg.shape[0], len(classes)))
    for i, c in enumerate(classes):
        per_slice[:, i] = (seg == c).sum((1, 2))
        per_slice[:, i] /= per_slice.sum()
    return int(np.argmax(per_slice.mean(1)))

raw, pictures = sys.argv[1], sys.argv[2]
cases = sorted(os.path.basename(f)[:-7] for f in glob.glob(f"{raw}/labelsTr/*.nii.gz"))
assert len(cases) == 5 and sorted(os.listdir(pictures)) == [c + ".png" for c in cases], os.listdir(pictures)
for case in cases:  # nibabel gives (i, j, k); SimpleITK's array order is (k, j, i)
    image = np.asarray(nib.load(f"{raw}/imagesTr/{case}_0000.nii.gz").dataobj, dtype=np.float32).transpose(2, 1, 0)
    seg = np.asarray(nib.load(f"{raw}/labelsTr/{case}.nii.gz").dataobj).astype(np.int16).transpose(2, 1, 0)
    chosen = nnunet_slice(seg)
    expected = nnunet_overlay(image[chosen], seg[chosen])
    got = read_png(f"{pictures}/{case}.png")
    assert got.shape == expected.shape, (case, got.shape, expected.shape)
    differing = int((got != expected).any(-1).sum())
    assert differing == 0, f"{case}: {differing} pixels differ from nnU-Net's overlay of slice {chosen}"
    assert len(np.unique(seg[chosen])) > 1, f"{case}: slice {chosen} shows no label"
print(f"raw overlays: {len(cases)} cases equal to nnU-Net's arithmetic")
EOF

# Preprocessed data: the default configuration (3d_fullres here) and -c 2d.
expect 0 "plot-overlay (preprocessed, default configuration)" -- "$nnuc" plot-overlay -i "$work/pp/Dataset900_Tiny" -o "$work/pp_png"
expect 0 "plot-overlay -c 2d" -- "$nnuc" plot-overlay -i "$work/pp/Dataset900_Tiny" -c 2d -o "$work/pp_png_2d"
for folder in pp_png pp_png_2d; do
  count=$(ls "$work/$folder"/*.png 2>/dev/null | wc -l)
  [ "$count" -eq 5 ] || fail "$folder: $count pictures, expected 5"
done
# With $nnUNet_raw and -d.
expect 0 "plot-overlay -d 900 --use_raw" -- env nnUNet_raw="$work/raw" "$nnuc" plot-overlay -d 900 --use_raw -o "$work/by_id"
[ -s "$work/by_id/case_000.png" ] || fail "-d 900 --use_raw wrote no case_000.png"

expect 2 "no dataset" -- "$nnuc" plot-overlay -o "$work/x"
contains "give -d ID or -i DATASET_DIR" "no dataset"
expect 2 "a channel the dataset lacks" -- "$nnuc" plot-overlay -i "$work/pp/Dataset900_Tiny" -o "$work/x" -channel_idx 3
contains "has channels 0 to 0" "a channel the dataset lacks"
expect 2 "a configuration not planned" -- "$nnuc" plot-overlay -i "$work/pp/Dataset900_Tiny" -c 3d_lowres -o "$work/x"
contains "3d_lowres" "a configuration not planned"
expect 2 "-c with --use_raw" -- "$nnuc" plot-overlay -i "$raw" --use_raw -c 2d -o "$work/x"
contains "not with --use_raw" "-c with --use_raw"
# A damaged image fails alone and is named; the other cases are drawn.
head -c 200 "$raw/imagesTr/case_002_0000.nii.gz" >"$work/cut.nii.gz" && mv "$work/cut.nii.gz" "$raw/imagesTr/case_002_0000.nii.gz"
expect 1 "a damaged case" -- "$nnuc" plot-overlay -i "$raw" --use_raw -o "$work/damaged"
contains "FAILED case_002" "a damaged case"
contains "4 of 5 cases drawn" "a damaged case"

finish "plot-overlay"
