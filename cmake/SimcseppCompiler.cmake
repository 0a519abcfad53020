# Compiler settings shared by every target: warnings, ccache, the libtorch precompiled header.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  # Precompiled headers are only cache-safe with these sloppiness settings.
  set(_ccache ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_ccache})
  set(CMAKE_C_COMPILER_LAUNCHER ${_ccache})
endif()

# Warnings apply to our code only (libtorch headers are SYSTEM includes).
add_library(simcsepp_warnings INTERFACE)
target_compile_options(simcsepp_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)

# simcsepp_enable_torch_pch(target): reuse one precompiled <torch/torch.h> across targets, so the
# 20-40 s parse of libtorch's headers is paid once per build, not once per translation unit.
function(simcsepp_enable_torch_pch target)
  if(TARGET simcsepp_torch_pch)
    target_precompile_headers(${target} REUSE_FROM simcsepp_torch_pch)
  endif()
endfunction()

# simcsepp_folder_library(<target> [TORCH] [SOURCES_GLOB <globs...>] [DEPS <targets...>])
# A folder's library: every *.cpp under the globs. Helpers of a folder add files without editing
# CMake; CONFIGURE_DEPENDS re-globs when files appear. TORCH: links libtorch and reuses its PCH.
function(simcsepp_folder_library target)
  cmake_parse_arguments(ARG "TORCH" "" "SOURCES_GLOB;DEPS" ${ARGN})
  file(GLOB _srcs CONFIGURE_DEPENDS ${ARG_SOURCES_GLOB})
  if(_srcs)
    add_library(${target} STATIC ${_srcs})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE simcsepp_warnings)
    if(ARG_TORCH)
      target_link_libraries(${target} PUBLIC simcsepp_torch)
      simcsepp_enable_torch_pch(${target})
    endif()
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
endfunction()
