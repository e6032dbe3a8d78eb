# Imported targets for the libraries nnuc finds by hand because they ship no usable CMake package:
# nifticlib's libnifti2, libzip, libdeflate and cuDNN. The build (CMakeLists.txt) and an installed nnuc
# (nnucConfig.cmake) both define them with this function, so the exported link interfaces name
# these targets rather than absolute paths of the machine that built nnuc:
#   nnuc_deps::nifti2   nnuc_deps::zip   nnuc_deps::deflate   nnuc_deps::cudnn (CUDA builds; carries cudnn.h's folder)

# nnuc_define_found_library(TARGET LIBRARY_FILE [INCLUDE_DIR]): an UNKNOWN IMPORTED library target
# for a library file found with find_library (and the folder of its header, if any). A target that
# exists already is kept (find_package(nnuc) called twice in one folder).
function(nnuc_define_found_library target library)
  if(TARGET ${target})
    return()
  endif()
  add_library(${target} UNKNOWN IMPORTED)
  set_target_properties(${target} PROPERTIES IMPORTED_LOCATION "${library}")
  if(ARGC GREATER 2 AND ARGV2)
    set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${ARGV2}")
  endif()
endfunction()
