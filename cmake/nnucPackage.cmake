# nnuc as a CMake package for other projects (cmake --install BUILD --prefix P):
#   P/lib/libnnuc_*.a              the static libraries, one per layer (shared/DESIGN.md)
#   P/include/nnuc/<layer>/...h    every header of the library layers at its repository-rooted path,
#                                  so users write #include "nn/predict/predictor.h"
#   P/bin/nnuc                     the command
#   P/lib/cmake/nnuc/              nnucConfig.cmake, nnucConfigVersion.cmake, nnucTargets.cmake and
#                                  nnucDependencyTargets.cmake
# A user project calls find_package(nnuc REQUIRED) and target_link_libraries(app PRIVATE nnuc::nnuc)
# (examples/embed/). nnuc::nnuc links the whole stack; each layer is also nnuc::nnuc_<layer>.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NNUC_LIBRARY_TARGETS nnuc_core nnuc_kernels nnuc_autograd nnuc_data nnuc_augment nnuc_nn nnuc_planner)
set(NNUC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/nnuc)

add_library(nnuc_all INTERFACE)
set_target_properties(nnuc_all PROPERTIES EXPORT_NAME nnuc)
target_link_libraries(nnuc_all INTERFACE ${NNUC_LIBRARY_TARGETS})
# The installed names work inside this build too (and in a superproject that adds nnuc as a folder).
add_library(nnuc::nnuc ALIAS nnuc_all)
foreach(target IN LISTS NNUC_LIBRARY_TARGETS)
  add_library(nnuc::${target} ALIAS ${target})
endforeach()

install(TARGETS nnuc_options ${NNUC_LIBRARY_TARGETS} nnuc_all EXPORT nnucTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
# The installed command keeps the run path to libraries outside the system's folders (CUDA, cuDNN).
set_target_properties(nnuc PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
install(TARGETS nnuc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Headers: all of the library layers' (tools/, tests/ and bench/ are not part of the package). The
# destination include/nnuc is nnuc_options' INSTALL_INTERFACE include directory.
file(GLOB_RECURSE nnuc_headers CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
     ${PROJECT_SOURCE_DIR}/kernels/*.h ${PROJECT_SOURCE_DIR}/autograd/*.h ${PROJECT_SOURCE_DIR}/data/*.h
     ${PROJECT_SOURCE_DIR}/nn/*.h ${PROJECT_SOURCE_DIR}/planner/*.h)
foreach(header IN LISTS nnuc_headers)
  get_filename_component(folder ${header} DIRECTORY)
  install(FILES ${PROJECT_SOURCE_DIR}/${header} DESTINATION include/nnuc/${folder})
endforeach()

# The folders where this build found the hand-found libraries: hints (not requirements) for the
# config's own search on the machine that uses the package.
set(NNUC_FOUND_LIBRARY_HINTS "")
foreach(found IN ITEMS NIFTI2_LIBRARY LIBZIP_LIBRARY LIBDEFLATE_LIBRARY CUDNN_LIBRARY)
  if(${found})
    get_filename_component(folder "${${found}}" DIRECTORY)
    list(APPEND NNUC_FOUND_LIBRARY_HINTS "${folder}")
  endif()
endforeach()
list(REMOVE_DUPLICATES NNUC_FOUND_LIBRARY_HINTS)
set(NNUC_CUDNN_INCLUDE_HINT "${CUDNN_INCLUDE_DIR}")

install(EXPORT nnucTargets NAMESPACE nnuc:: DESTINATION ${NNUC_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/nnucConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/nnucConfig.cmake INSTALL_DESTINATION ${NNUC_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/nnucConfigVersion.cmake VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/nnucConfig.cmake ${PROJECT_BINARY_DIR}/nnucConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/nnucDependencyTargets.cmake
        DESTINATION ${NNUC_INSTALL_CMAKEDIR})
