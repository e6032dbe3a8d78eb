// Check macros for CUDA runtime and cuDNN calls. Only for translation units built with CUDA.
#pragma once

#include <cuda_runtime.h>
#include <cudnn.h>

#include "kernels/core/error.h"

#define CUDA_CHECK(call)                                                                   \
  do {                                                                                     \
    cudaError_t nnuc_status_ = (call);                                                     \
    if (nnuc_status_ != cudaSuccess)                                                       \
      NNUC_THROW(::nnuc::CudaError, #call, " failed: ", cudaGetErrorString(nnuc_status_)); \
  } while (0)

#define CUDA_CHECK_PRINT(call)                                                                           \
  do {                                                                                                   \
    cudaError_t nnuc_status_ = (call);                                                                   \
    NNUC_CHECK_PRINT(nnuc_status_ == cudaSuccess, #call, " failed: ", cudaGetErrorString(nnuc_status_)); \
  } while (0)

// After every kernel launch: a bad launch configuration surfaces here, at its op.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#define CUDNN_CHECK(call)                                                                   \
  do {                                                                                      \
    cudnnStatus_t nnuc_status_ = (call);                                                    \
    if (nnuc_status_ != CUDNN_STATUS_SUCCESS)                                               \
      NNUC_THROW(::nnuc::CudaError, #call, " failed: ", cudnnGetErrorString(nnuc_status_)); \
  } while (0)

#define CUDNN_CHECK_PRINT(call)                                                                                    \
  do {                                                                                                             \
    cudnnStatus_t nnuc_status_ = (call);                                                                           \
    NNUC_CHECK_PRINT(nnuc_status_ == CUDNN_STATUS_SUCCESS, #call, " failed: ", cudnnGetErrorString(nnuc_status_)); \
  } while (0)
