#!/usr/bin/env bash
# Installs nnuc's build dependencies from Debian's packages (when run as root or with sudo) and
# builds nnuc in ./build (Release; CUDA when nvcc and cuDNN are present).
#   NNUC_CUDA=AUTO|ON|OFF   CUDA backend (default AUTO)
#   NNUC_WERROR=ON|OFF      warnings as errors (default OFF; CI sets ON)
#   NNUC_SKIP_APT=1         do not touch packages
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make pkg-config libeigen3-dev libnifti2-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  libgmock-dev libbenchmark-dev zlib1g-dev libcairo2-dev libzip-dev libdeflate-dev)
# Test-time data and peers: real NIfTI files from Debian, nibabel/scipy/skimage for conformance
# and parity tests, clang + sanitizer runtimes for the ASan/UBSan, ThreadSanitizer and libFuzzer runs,
# clang's OpenMP with libarcher (OpenMP under ThreadSanitizer), clang-format for the format check.
test_packages=(python3 python3-numpy python3-nibabel python3-dipy mricron-data python3-scipy python3-skimage
  clang libclang-rt-14-dev libomp-14-dev clang-format)

if [ -z "${NNUC_SKIP_APT:-}" ]; then
  missing=()
  for package in "${packages[@]}" "${test_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNNUC_CUDA="${NNUC_CUDA:-AUTO}" -DNNUC_WERROR="${NNUC_WERROR:-OFF}"
cmake --build build -j"$jobs"
