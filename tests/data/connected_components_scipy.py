#!/usr/bin/python3
"""Reference connected-component labellings from scipy.ndimage.label.

Usage: connected_components_scipy.py OUTPUT_FOLDER
Writes OUTPUT_FOLDER/manifest.json and raw little-endian arrays (*.bin) that
tests/data/connected_components_test.cpp compares nnuc's labelling against, bit for bit:
  label cases: mask (u1), scipy.ndimage.label(mask, structure) (i4) and the component count, with
               structure = np.ones((3, 3, 3)) ("full") or scipy's default cross ("face");
  keep-largest cases: nnU-Net's remove_all_but_largest_component_from_segmentation (restated below
               from acvl_utils / nnunetv2.postprocessing, spec §9.1) on an int16 label map.
Volumes: random masks (several densities, flat and one-voxel extents), thresholded smooth noise and,
when Debian's mricron-data and python3-nibabel are installed, masks from its AAL atlas and ch2bet.
Exit status 3 when numpy or scipy is missing.
"""
import json
import os
import sys

try:
    import numpy as np
    import scipy
    import scipy.ndimage as ndi
except ImportError as error:  # the C++ test decides whether that is a skip or a failure
    print(f"connected_components_scipy: missing module: {error}", file=sys.stderr)
    sys.exit(3)

STRUCTURES = {"full": np.ones((3, 3, 3), dtype=bool), "face": ndi.generate_binary_structure(3, 1)}


def keep_largest(segmentation, labels_or_regions, background=0):
    """remove_all_but_largest_component_from_segmentation with full connectivity."""
    mask = np.zeros(segmentation.shape, dtype=bool)
    for entry in labels_or_regions:
        mask |= np.isin(segmentation, entry)
    labels, count = ndi.label(mask, STRUCTURES["full"])
    keep = np.zeros_like(mask)
    if count > 0:
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        largest = sizes.max()
        for component in np.flatnonzero(sizes == largest) + 1:
            keep |= labels == component
    out = segmentation.copy()
    out[mask & ~keep] = background
    return out


class Writer:
    def __init__(self, folder):
        self.folder = folder
        self.cases = []

    def array(self, name, array, dtype):
        np.ascontiguousarray(array).astype(dtype).tofile(os.path.join(self.folder, name + ".bin"))
        return {"file": name + ".bin", "shape": [int(s) for s in array.shape]}

    def label_case(self, name, mask, structures=("full", "face")):
        mask = np.ascontiguousarray(mask, dtype=bool)
        entry = {"name": name, "kind": "label", "mask": self.array(name + "_mask", mask, "u1"), "expected": {}}
        for structure in structures:
            labels, count = ndi.label(mask, STRUCTURES[structure])
            entry["expected"][structure] = {"count": int(count), **self.array(f"{name}_{structure}", labels, "<i4")}
        self.cases.append(entry)

    def keep_largest_case(self, name, segmentation, labels_or_regions):
        segmentation = segmentation.astype(np.int16)
        expected = keep_largest(segmentation, labels_or_regions)
        self.cases.append({"name": name, "kind": "keep_largest", "labels_or_regions": labels_or_regions,
                           "segmentation": self.array(name + "_seg", segmentation, "<i2"),
                           "expected": self.array(name + "_out", expected, "<i2")})


def smooth_mask(rs, shape, sigma, quantile):
    field = ndi.gaussian_filter(rs.standard_normal(shape), sigma)
    return field > np.quantile(field, quantile)


def real_volume(path):
    try:
        import nibabel as nib
    except ImportError:
        return None
    if not os.path.exists(path):
        return None
    array = np.asanyarray(nib.load(path).dataobj)
    return np.ascontiguousarray(np.transpose(array, (2, 1, 0)))  # SimpleITK axis order (z, y, x)


def main():
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    rs = np.random.RandomState(20240917)
    w = Writer(folder)
    # Random masks: many small components and many merges at every density.
    for i, (shape, density) in enumerate([((9, 11, 13), 0.05), ((17, 12, 15), 0.2), ((14, 19, 11), 0.35),
                                          ((21, 16, 18), 0.5), ((13, 13, 13), 0.7), ((10, 12, 9), 0.92),
                                          ((30, 31, 29), 0.3)]):
        w.label_case(f"random_{i}", rs.random_sample(shape) < density)
    # Flat and one-voxel extents: 2-D images stored as (1, H, W), lines, a single voxel.
    for i, (shape, density) in enumerate([((1, 40, 37), 0.4), ((33, 1, 29), 0.45), ((25, 31, 1), 0.5),
                                          ((1, 1, 64), 0.5), ((1, 57, 1), 0.6), ((48, 1, 1), 0.4),
                                          ((2, 23, 19), 0.35), ((1, 1, 1), 1.0)]):
        w.label_case(f"flat_{i}", rs.random_sample(shape) < density)
    w.label_case("empty", np.zeros((6, 7, 8), dtype=bool))
    w.label_case("all_foreground", np.ones((7, 5, 6), dtype=bool))
    # Large, winding components: thresholded smooth noise (long merge chains in the equivalences).
    w.label_case("smooth_0", smooth_mask(rs, (40, 44, 38), 1.5, 0.6))
    w.label_case("smooth_1", smooth_mask(rs, (36, 30, 42), 2.5, 0.45))
    w.label_case("smooth_flat", smooth_mask(rs, (1, 90, 85), 2.0, 0.55))
    segmentation = np.digitize(ndi.gaussian_filter(rs.standard_normal((26, 30, 24)), 1.2), [-0.1, 0.05, 0.15])
    w.keep_largest_case("keep_largest_generated", segmentation, [[1], [2], [3]])
    w.keep_largest_case("keep_largest_generated_union", segmentation, [[2, 3]])
    tie = np.zeros((5, 9, 9), dtype=np.int16)
    tie[1:3, 1:3, 1:3] = 1  # two components of 8 voxels (a tie: both stay) and one of 1
    tie[1:3, 5:7, 5:7] = 1
    tie[4, 8, 0] = 1
    tie[0, 8, 8] = 2
    w.keep_largest_case("keep_largest_tie", tie, [[1]])
    # Real label maps from Debian's mricron-data.
    aal = real_volume("/usr/share/mricron/templates/aal.nii.gz")
    if aal is not None:
        aal = aal.astype(np.int16)  # AAL: labels 1 .. 116
        w.label_case("real_aal_every_fifth", aal[30:150, 30:190, 20:150] % 5 == 2)
        w.label_case("real_aal_some_labels", np.isin(aal[40:120, 50:160, 40:140], [3, 17, 29, 40, 41, 77, 90]))
        w.keep_largest_case("real_aal_keep_largest", aal[50:110, 70:150, 60:130], [[3], [17], [40, 41], [77]])
    ch2bet = real_volume("/usr/share/mricron/templates/ch2bet.nii.gz")
    if ch2bet is not None:
        w.label_case("real_ch2bet_bright", ch2bet[30:150, 30:190, 20:160] > np.quantile(ch2bet[ch2bet > 0], 0.8),
                     structures=("full",))
    manifest = {"numpy": np.__version__, "scipy": scipy.__version__, "cases": w.cases}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
