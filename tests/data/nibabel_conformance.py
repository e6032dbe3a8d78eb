#!/usr/bin/python3
"""nibabel's view of NIfTI files that nobody in nnuc wrote, for tests/data/nifti_conformance_test.cpp.

Run with Debian's /usr/bin/python3 (python3-nibabel; python3-dipy and mricron-data supply files).

  nibabel_conformance.py --list
      prints "package<TAB>path" for every .nii / .nii.gz shipped by python3-nibabel (its test data),
      python3-dipy (dipy/data/files), mricron-data (/usr/share/mricron) and libnifti2 (examples),
      and "missing<TAB>package" for each of the three required packages that is not installed.
      Exits 3 when nibabel itself cannot be imported.
  nibabel_conformance.py --zoo FOLDER
      writes files with nibabel itself (still nobody here wrote them) for the paths Debian's files
      do not reach: qform-only and code-less headers, big-endian and unusual datatypes with
      scaling that nibabel chooses, NIfTI-2, 2-D; prints "nibabel-written<TAB>path" per file.
  nibabel_conformance.py --dump FILE OUT
      writes nibabel's get_fdata() (float64, scaling applied) to OUT as little-endian float64 in
      Fortran order (i fastest, the file's order) and prints one JSON line with the shape, the
      zooms and the affine (img.affine: sform, else qform, else nibabel's pixdim fallback).
"""
import glob
import json
import os
import sys


def nifti_files(folder):
    found = []
    for pattern in ("*.nii", "*.nii.gz"):
        found += glob.glob(os.path.join(folder, "**", pattern), recursive=True)
    return sorted(found)


def list_files():
    try:
        import nibabel
    except ImportError:
        print("missing\tpython3-nibabel")
        return 3
    print("package\tpython3-nibabel\t" + nibabel.__version__, file=sys.stderr)
    for path in nifti_files(os.path.join(os.path.dirname(nibabel.__file__), "tests", "data")):
        print("python3-nibabel\t" + path)
    try:
        import dipy.data
        for path in nifti_files(os.path.join(os.path.dirname(dipy.data.__file__), "files")):
            print("python3-dipy\t" + path)
    except ImportError:
        print("missing\tpython3-dipy")
    mricron = nifti_files("/usr/share/mricron")
    if not mricron:
        print("missing\tmricron-data")
    for path in mricron:
        print("mricron-data\t" + path)
    for path in nifti_files("/usr/share/doc/libnifti2-2/examples"):
        print("libnifti2\t" + path)
    return 0


def zoo(folder):
    import nibabel
    import numpy

    rng = numpy.random.default_rng(20240611)
    os.makedirs(folder, exist_ok=True)

    def rotation(axis, degrees):
        axis = numpy.asarray(axis, dtype=float) / numpy.linalg.norm(axis)
        angle = numpy.radians(degrees)
        k = numpy.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        return numpy.eye(3) + numpy.sin(angle) * k + (1 - numpy.cos(angle)) * k @ k

    def affine(rot, zooms, offset, flip=False):
        out = numpy.eye(4)
        out[:3, :3] = rot @ numpy.diag(zooms)
        if flip:
            out[:3, 2] *= -1
        out[:3, 3] = offset
        return out

    cases = []
    shape = (9, 7, 5)
    data = rng.normal(100, 40, size=shape)
    oblique = affine(rotation((1, 2, 3), 33), (0.9, 1.1, 2.5), (-80.5, 12.25, 40), flip=True)
    cases.append(("qform_only_oblique.nii.gz", nibabel.Nifti1Image, data, numpy.float32, oblique, (1, 0), "<"))
    cases.append(("qform_only_180_degrees.nii", nibabel.Nifti1Image, data, numpy.int16,
                  affine(rotation((0, 0, 1), 180), (1, 1, 3), (5, 5, 5)), (2, 0), ">"))
    cases.append(("no_codes.nii", nibabel.Nifti1Image, data, numpy.float64, oblique, (0, 0), ">"))
    cases.append(("sform_and_qform_differ.nii", nibabel.Nifti1Image, data, numpy.uint16, oblique, (1, 4), "<"))
    for dtype in (numpy.int8, numpy.uint8, numpy.int16, numpy.uint16, numpy.int32, numpy.uint32, numpy.int64,
                  numpy.uint64, numpy.float32, numpy.float64):
        name = "scaled_%s_be.nii" % numpy.dtype(dtype).name
        cases.append((name, nibabel.Nifti1Image, data, dtype, oblique, (1, 1), ">"))
    cases.append(("nifti2_int32_be.nii.gz", nibabel.Nifti2Image, data * 1000, numpy.int32, oblique, (1, 2), ">"))
    cases.append(("two_dimensional.nii", nibabel.Nifti1Image, data[:, :, 0], numpy.float32,
                  affine(numpy.eye(3), (0.5, 0.25, 1), (1, 2, 3)), (1, 1), "<"))
    cases.append(("four_dimensional.nii.gz", nibabel.Nifti1Image, rng.normal(size=shape + (3,)), numpy.float32,
                  oblique, (1, 1), "<"))
    for name, klass, values, dtype, aff, (qcode, scode), order in cases:
        header = klass.header_class(endianness=order)
        header.set_data_dtype(dtype)
        image = klass(values, aff, header)
        image.set_qform(aff, code=qcode)
        image.set_sform(aff if scode else numpy.eye(4), code=scode)
        path = os.path.join(folder, name)
        nibabel.save(image, path)
        print("nibabel-written\t" + path)
    return 0


def dump(path, out):
    import nibabel
    import numpy

    opener = nibabel.openers.ImageOpener(path)
    with opener as handle:
        sizeof_hdr = numpy.frombuffer(handle.read(4), dtype="<i4")[0]
    nifti2 = sizeof_hdr in (540, 469893120)
    # Plain NIfTI classes: a CIFTI-2 file (NIfTI-2 with an extension) is read as the NIfTI it is.
    image = (nibabel.Nifti2Image if nifti2 else nibabel.Nifti1Image).from_filename(path)
    data = numpy.asarray(image.get_fdata(dtype=numpy.float64))
    data.ravel(order="F").astype("<f8").tofile(out)
    header = image.header
    print(json.dumps({
        "shape": [int(n) for n in data.shape],
        "zooms": [float(z) for z in header.get_zooms()],
        "affine": [[float(v) for v in row] for row in image.affine[:3]],
        "version": 2 if nifti2 else 1,
    }))
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        return list_files()
    if len(argv) == 3 and argv[1] == "--zoo":
        return zoo(argv[2])
    if len(argv) == 4 and argv[1] == "--dump":
        return dump(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
