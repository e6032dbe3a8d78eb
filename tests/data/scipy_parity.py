#!/usr/bin/python3
"""Reference outputs of nnU-Net's resampling and hole filling, computed with scipy and scikit-image.

Usage: scipy_parity.py OUTPUT_FOLDER
Writes OUTPUT_FOLDER/manifest.json and raw little-endian arrays (*.bin) that
tests/data/resample_scipy_parity_test.cpp compares nnuc against. Run with Debian's python3 and its
python3-numpy, python3-scipy, python3-skimage (nnU-Net's resampling calls; nnunet_method.md §4.3).
Real volumes come from Debian's mricron-data and python3-dipy / python3-nibabel when they are
installed (read with nibabel); without them only generated volumes are written.

The reference below restates nnU-Net's resample_data_or_seg_to_shape from its specification:
  data: per channel skimage.transform.resize(x, shape, order, mode='edge', anti_aliasing=False)
        (clip=True), in float64, cast back to the input dtype;
  seg:  resize_segmentation: per unique label u (ascending), resize((seg == u).astype(float), order=1,
        mode='edge', clip=True, anti_aliasing=False) >= 0.5 -> u, starting from zeros;
  separate z (max/min spacing > 3 for the current, else the new spacing; single max axis): every
        slice along that axis resized in-plane, then map_coordinates(order=0, mode='nearest') at
        (i + 0.5) * (n_in / n_out) - 0.5 along it.
Exit status 3 when numpy, scipy or skimage is missing.
"""
import json
import os
import sys

try:
    import numpy as np
    import scipy
    import scipy.ndimage as ndi
    import skimage
    from skimage.transform import resize
except ImportError as error:  # the C++ test decides whether that is a skip or a failure
    print(f"scipy_parity: missing module: {error}", file=sys.stderr)
    sys.exit(3)

ANISO = 3.0


def lowres_axes(spacing):
    spacing = np.array(spacing, dtype=float)
    return np.where(max(spacing) / spacing == 1)[0]


def separate_z(current, new):
    if np.max(current) / np.min(current) > ANISO:
        axes = lowres_axes(current)
    elif np.max(new) / np.min(new) > ANISO:
        axes = lowres_axes(new)
    else:
        return False, None
    if len(axes) != 1:
        return False, None
    return True, int(axes[0])


def resize_segmentation(seg, new_shape):
    out = np.zeros(new_shape, dtype=seg.dtype)
    for label in np.unique(seg):
        mask = (seg == label).astype(float)
        resized = resize(mask, new_shape, 1, mode="edge", clip=True, anti_aliasing=False)
        out[resized >= 0.5] = label
    return out


def resample(data, new_shape, current, new, is_seg):
    """data: (C, a0, a1, a2); returns the array nnU-Net's resampling returns."""
    new_shape = np.array(new_shape)
    shape = np.array(data[0].shape)
    if np.all(shape == new_shape):
        return data
    dtype_out = data.dtype
    data = data.astype(float)
    do_sep, axis = separate_z(current, new)
    if is_seg:
        fn = lambda x, s: resize_segmentation(x, s)
    else:
        fn = lambda x, s: resize(x, s, 3, mode="edge", anti_aliasing=False)
    out = np.zeros((data.shape[0], *new_shape), dtype=dtype_out)
    for c in range(data.shape[0]):
        if not do_sep:
            out[c] = fn(data[c], tuple(new_shape))
            continue
        plane = tuple(int(v) for i, v in enumerate(new_shape) if i != axis)
        here_shape = new_shape.copy()
        here_shape[axis] = shape[axis]
        here = np.zeros(here_shape)
        for s in range(shape[axis]):
            index = [slice(None)] * 3
            index[axis] = s
            here[tuple(index)] = fn(data[c][tuple(index)], plane)
        if shape[axis] == new_shape[axis]:
            out[c] = here
            continue
        grids = np.mgrid[: new_shape[0], : new_shape[1], : new_shape[2]].astype(float)
        coords = np.array([float(here.shape[i]) / new_shape[i] * (grids[i] + 0.5) - 0.5 for i in range(3)])
        out[c] = ndi.map_coordinates(here, coords, order=0, mode="nearest")
    return out


def smooth_volume(rs, channels, shape, sigma=1.5, scale=100.0):
    noise = rs.standard_normal((channels, *shape))
    vol = np.stack([ndi.gaussian_filter(noise[c], sigma) for c in range(channels)])
    return (vol * scale + 20.0).astype(np.float32)


def blob_labels(rs, shape, labels=3):
    field = ndi.gaussian_filter(rs.standard_normal(shape), 2.0)
    edges = np.quantile(field, np.linspace(0, 1, labels + 2)[1:-1])
    seg = np.digitize(field, edges).astype(np.int16) - 1  # -1 .. labels-1: includes nnU-Net's -1
    return seg


def crop_to_nonzero(data, seg):
    """nnU-Net's crop_to_nonzero (nnunet_method.md §2.1)."""
    mask = ndi.binary_fill_holes(np.any(data != 0, axis=0))
    bbox = []
    for axis in range(3):
        hits = np.where(np.any(mask, axis=tuple(a for a in range(3) if a != axis)))[0]
        bbox.append([int(hits[0]), int(hits[-1]) + 1] if len(hits) else [0, mask.shape[axis]])
    slicer = tuple(slice(b, e) for b, e in bbox)
    data = data[(slice(None),) + slicer]
    seg = seg[slicer].copy()
    seg[(seg == 0) & ~mask[slicer]] = -1
    return data, seg, bbox


def class_locations(seg, classes, seed=1234):
    """_sample_foreground_locations of nnU-Net 2.6+: per class, its labels' voxels label by label (listed
    order), C order within a label; choice(total, max(min(10000, total), ceil(0.01 total)), replace=False)."""
    rs = np.random.RandomState(seed)
    out = []
    for labels in classes:
        blocks = [np.argwhere(seg == label) for label in labels]
        voxels = np.concatenate(blocks) if blocks else np.zeros((0, 3), int)
        total = len(voxels)
        if total == 0:
            out.append(np.zeros((0, 3), int))
            continue
        n = max(min(10000, total), int(np.ceil(total * 0.01)))
        out.append(voxels[rs.choice(total, n, replace=False)])
    return out


def preprocess(image, seg, spacing, target, classes):
    """run_case_npy without transpose, one ZScore channel with use_mask_for_norm."""
    data, seg, bbox = crop_to_nonzero(image[None].astype(np.float32), seg)
    new_shape = [int(round(s / t * n)) for s, t, n in zip(spacing, target, data.shape[1:])]
    channel = data[0]
    mask = seg >= 0
    mean = channel[mask].mean()
    std = channel[mask].std()
    channel[mask] = (channel[mask] - mean) / max(std, 1e-8)
    data = resample(data, new_shape, spacing, target, False)
    seg = resample(seg[None], new_shape, spacing, target, True)[0]
    return data, seg, bbox, class_locations(seg, classes)


class Writer:
    def __init__(self, folder):
        self.folder = folder
        self.cases = []

    def array(self, name, array, dtype):
        path = os.path.join(self.folder, name + ".bin")
        np.ascontiguousarray(array).astype(dtype).tofile(path)
        return {"file": name + ".bin", "shape": [int(s) for s in array.shape]}

    def resample_case(self, name, kind, data, current, new):
        current = [float(v) for v in current]
        new = [float(v) for v in new]
        new_shape = [int(round(c / n * s)) for c, n, s in zip(current, new, data.shape[1:])]
        is_seg = kind == "seg"
        expected = resample(data, new_shape, current, new, is_seg)
        dtype = "<i2" if is_seg else "<f4"
        entry = {"name": name, "kind": kind, "current_spacing": current, "new_spacing": new, "new_shape": new_shape,
                 "separate_z": separate_z(current, new)[0],
                 "input": self.array(name + "_in", data, dtype), "expected": self.array(name + "_out", expected, dtype)}
        self.cases.append(entry)

    def pipeline_case(self, name, image, seg, spacing, target, classes):
        data, seg_out, bbox, locations = preprocess(image, seg.astype(np.int16), spacing, target, classes)
        self.cases.append({"name": name, "kind": "pipeline", "spacing": [float(v) for v in spacing],
                           "target": [float(v) for v in target], "classes": classes, "bbox": bbox,
                           "image": self.array(name + "_image", image, "<f4"),
                           "seg": self.array(name + "_seg", seg, "<i2"),
                           "expected_data": self.array(name + "_data", data, "<f4"),
                           "expected_seg": self.array(name + "_seg_out", seg_out, "<i2"),
                           "expected_locations": self.array(name + "_locations", np.concatenate(locations), "<i4"),
                           "location_counts": [int(len(v)) for v in locations]})

    def fill_holes_case(self, name, mask):
        filled = ndi.binary_fill_holes(mask)
        self.cases.append({"name": name, "kind": "fill_holes", "input": self.array(name + "_in", mask, "u1"),
                           "expected": self.array(name + "_out", filled, "u1")})


def real_volumes():
    """(name, array in SimpleITK axis order (z, y, x), spacing in that order, is_label) of Debian's files."""
    try:
        import nibabel as nib
    except ImportError:
        return []
    files = [("ch2bet", "/usr/share/mricron/templates/ch2bet.nii.gz", False),
             ("aal", "/usr/share/mricron/templates/aal.nii.gz", True),
             ("s0_10slices", "/usr/lib/python3/dist-packages/dipy/data/files/S0_10slices.nii.gz", False),
             ("aniso_vox", "/usr/lib/python3/dist-packages/dipy/data/files/aniso_vox.nii.gz", False)]
    found = []
    for name, path, is_label in files:
        if not os.path.exists(path):
            continue
        image = nib.load(path)
        array = np.asanyarray(image.dataobj)
        if array.ndim == 4:
            array = array[..., 0]
        zooms = [float(z) for z in image.header.get_zooms()[:3]]
        found.append((name, np.transpose(array, (2, 1, 0)), zooms[::-1], is_label))
    return found


def main():
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    rs = np.random.RandomState(20240611)
    w = Writer(folder)
    # Generated images: isotropic up/down, anisotropic (separate z on axes 0 and 2, z changing or not),
    # anisotropy only in the target, a 2-D image.
    w.resample_case("iso_up", "data", smooth_volume(rs, 1, (14, 17, 12)), (1, 1, 1), (0.7, 0.8, 0.55))
    w.resample_case("iso_down", "data", smooth_volume(rs, 2, (31, 26, 29)), (1, 1, 1), (1.6, 1.3, 1.9))
    w.resample_case("iso_mixed", "data", smooth_volume(rs, 1, (19, 24, 21), sigma=0.7), (0.9, 1.1, 1.0), (1.25, 0.6, 1.0))
    w.resample_case("aniso_z0", "data", smooth_volume(rs, 2, (9, 40, 37)), (5.0, 0.8, 0.8), (3.0, 1.0, 1.1))
    w.resample_case("aniso_z2_same_z", "data", smooth_volume(rs, 1, (30, 28, 7)), (0.9, 0.9, 4.5), (1.2, 0.7, 4.5))
    w.resample_case("aniso_target_only", "data", smooth_volume(rs, 1, (18, 20, 22)), (1, 1, 1), (1, 1, 3.5))
    w.resample_case("image_2d", "data", smooth_volume(rs, 3, (1, 45, 38)), (999.0, 1, 1), (999.0, 0.7, 1.3))
    w.resample_case("white_noise_up", "data", (rs.standard_normal((1, 11, 13, 9)) * 50).astype(np.float32),
                    (1, 1, 1), (0.45, 0.6, 0.75))
    # Generated label maps (with -1 outside the nonzero mask, as after cropping).
    w.resample_case("seg_iso_up", "seg", blob_labels(rs, (16, 14, 18))[None], (1, 1, 1), (0.7, 0.6, 0.9))
    w.resample_case("seg_iso_down", "seg", blob_labels(rs, (33, 30, 27), 4)[None], (1, 1, 1), (2.0, 1.5, 1.7))
    w.resample_case("seg_half", "seg", blob_labels(rs, (20, 22, 18), 3)[None], (1, 1, 1), (2.0, 2.0, 2.0))
    w.resample_case("seg_aniso_z0", "seg", blob_labels(rs, (8, 36, 33), 3)[None], (4.0, 0.9, 0.9), (2.5, 1.2, 0.7))
    w.resample_case("seg_2d", "seg", blob_labels(rs, (1, 50, 41), 5)[None], (999.0, 1, 1), (999.0, 1.4, 0.6))
    # Hole filling on random masks, including a flat (1, H, W) one.
    for i, (shape, p) in enumerate([((12, 14, 11), 0.6), ((9, 9, 9), 0.75), ((1, 30, 25), 0.7), ((20, 3, 18), 0.65)]):
        w.fill_holes_case(f"fill_holes_{i}", rs.random_sample(shape) < p)
    # Real volumes from Debian packages.
    # The whole per-case pipeline on a generated case: zero background, a hole, labels inside.
    image = smooth_volume(rs, 1, (26, 30, 24))[0] + 200.0
    image[:3] = 0
    image[:, :, -4:] = 0
    image[12, 15, 11] = 0
    seg = np.clip(blob_labels(rs, (26, 30, 24), 4), 0, None)
    seg[:3] = 0
    w.pipeline_case("pipeline_generated", image, seg, (1.0, 0.8, 0.8), (1.3, 1.1, 0.6), [[1], [2], [1, 2], [3]])
    volumes = {name: (array, spacing) for name, array, spacing, _ in real_volumes()}
    if "ch2bet" in volumes and "aal" in volumes:
        image = volumes["ch2bet"][0][110:181, 60:150, 50:130].astype(np.float32)
        labels = volumes["aal"][0][110:181, 60:150, 50:130].astype(np.int16)
        w.pipeline_case("real_pipeline_ch2bet_aal", image, labels, volumes["ch2bet"][1], (1.4, 1.6, 1.5),
                        [[1], [2], [19], [1, 2, 3, 19, 20], [200]])
    for name, array, spacing, is_label in real_volumes():
        if name == "ch2bet":
            crop = array[40:120, 50:150, 40:130].astype(np.float32)
            w.resample_case("real_ch2bet_down", "data", crop[None], spacing, (1.5, 1.7, 1.25))
            w.resample_case("real_ch2bet_up", "data", crop[20:50, 30:70, 25:60][None], spacing, (0.7, 0.8, 0.6))
            w.fill_holes_case("real_ch2bet_mask", array[30:150, 30:190, 20:160] != 0)
        elif name == "aal":
            labels = array[40:110, 60:140, 50:120].astype(np.int16)
            w.resample_case("real_aal_down", "seg", labels[None], spacing, (1.6, 1.3, 1.5))
            w.resample_case("real_aal_up", "seg", labels[20:40, 25:50, 20:42][None], spacing, (0.6, 0.7, 0.5))
        elif name == "s0_10slices":
            w.resample_case("real_s0_sepz", "data", array.astype(np.float32)[None], spacing, (30.0, 1.6, 1.6))
        elif name == "aniso_vox":
            w.resample_case("real_aniso_vox", "data", array.astype(np.float32)[None], spacing, (2.0, 2.2, 2.2))
    manifest = {"numpy": np.__version__, "scipy": scipy.__version__, "skimage": skimage.__version__,
                "cases": w.cases}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
