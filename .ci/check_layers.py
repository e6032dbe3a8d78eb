#!/usr/bin/env python3
"""Fails when a source file includes a header of a layer it may not use (shared/DESIGN.md, "Layers").

Includes are rooted at the repository ("kernels/conv/conv.h"), so each include line names its layer.
A quoted include that is not rooted there ("conv_cpu_gather.h", "../core/tensor.h") is resolved
against the including file's folder. Other headers (system and external ones) are not checked.

    kernels/core          the core (Tensor, Context, allocator, errors): uses nothing above it
    kernels/<op>/         the ops: use the core and each other
    autograd/             uses kernels
    data/                 uses kernels/core
    data/augment/         uses data and the kernels (ops included); a target above nnuc_data
    nn/                   uses autograd and data (and what they use)
    planner/              uses nn and data (and what they use)
    tools/                uses every library layer
    tests/, bench/, fuzz/ use anything; nothing outside them includes them

Usage: .ci/check_layers.py [FILE...]   (default: every tracked or new C++/CUDA file)
Exit code: 0 no violation, 1 violations (one line each: file:line: the include and why).
"""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SOURCE_ENDINGS = (".h", ".hpp", ".cuh", ".cpp", ".cc", ".cu")
INCLUDE = re.compile(r'^\s*#\s*include\s*(["<])([^">]+)[">]')

KERNEL_OPS, CORE = "kernels/<op>", "kernels/core"
# Layer -> the layers its files may include (itself included). Layers not listed here (tests,
# bench, fuzz) may include anything.
MAY_USE = {
    CORE: {CORE},
    KERNEL_OPS: {CORE, KERNEL_OPS},
    "autograd": {CORE, KERNEL_OPS, "autograd"},
    "data": {CORE, "data"},  # nnuc_augment links nnuc_data, not the other way
    "data/augment": {CORE, KERNEL_OPS, "data", "data/augment"},
    "nn": {CORE, KERNEL_OPS, "autograd", "data", "data/augment", "nn"},
    "planner": {CORE, KERNEL_OPS, "autograd", "data", "data/augment", "nn", "planner"},
    "tools": {CORE, KERNEL_OPS, "autograd", "data", "data/augment", "nn", "planner", "tools"},
}
UNRESTRICTED = {"tests", "bench", "fuzz"}


def layer_of(path):
    """The layer of a repository-relative path, or None for files outside every layer."""
    parts = path.split("/")
    top = parts[0]
    if top == "kernels":
        return CORE if len(parts) > 2 and parts[1] == "core" else KERNEL_OPS
    if top == "data":
        return "data/augment" if len(parts) > 2 and parts[1] == "augment" else "data"
    if top in MAY_USE or top in UNRESTRICTED:
        return top
    return None


def resolve(including_file, include, quoted):
    """The repository-relative path an include refers to, or None for an external header."""
    if layer_of(include) is not None and not include.startswith("."):
        return include
    if not quoted:
        return None
    beside = os.path.normpath(os.path.join(os.path.dirname(including_file), include))
    if os.path.exists(os.path.join(ROOT, beside)) and not beside.startswith(".."):
        return beside
    return None


def source_files():
    """Tracked and new (not ignored) files; without git, every file outside build folders."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                check=True, capture_output=True, text=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        listed = []
        for folder, subfolders, names in os.walk(ROOT):
            subfolders[:] = [d for d in subfolders if not d.startswith((".", "build"))]
            listed += [os.path.relpath(os.path.join(folder, name), ROOT) for name in names]
    return sorted(p for p in listed if p.endswith(SOURCE_ENDINGS) and os.path.exists(os.path.join(ROOT, p)))


def violations(path):
    layer = layer_of(path)
    if layer is None or layer in UNRESTRICTED:
        return
    with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as source:
        for number, line in enumerate(source, start=1):
            match = INCLUDE.match(line)
            target = resolve(path, match.group(2), match.group(1) == '"') if match else None
            if target is None:
                continue
            used = layer_of(target)
            if used not in MAY_USE[layer]:
                yield f'{path}:{number}: #include "{match.group(2)}": {layer} may not use {used} ' \
                      f'(it may use: {", ".join(sorted(MAY_USE[layer]))})'


def main(arguments):
    files = [os.path.relpath(os.path.abspath(p), ROOT) for p in arguments] or source_files()
    found = [message for path in files for message in violations(path)]
    for message in found:
        print(message)
    if found:
        print(f"check_layers: {len(found)} include(s) cross the layers of shared/DESIGN.md", file=sys.stderr)
        return 1
    print(f"check_layers: {len(files)} files, no include crosses a layer")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
