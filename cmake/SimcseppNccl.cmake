# NCCL, picked explicitly. A process loads one libnccl.so.2 (by soname) for simcsepp and
# libtorch_cuda alike, so the one we link must be at least the NCCL libtorch_cuda was built
# with. Order: -DSIMCSEPP_NCCL_ROOT=<prefix> (include/nccl.h, lib/libnccl.so*), else torch's own
# copy (site-packages/nvidia/nccl), else the CUDA toolkit's. What was linked (source, path,
# version) goes into build_config.h for `simcsepp inspect`.
set(SIMCSEPP_NCCL_ROOT "" CACHE PATH "NCCL prefix; empty = torch's site-packages/nvidia/nccl, else the CUDA toolkit's")
set(SIMCSEPP_HAVE_NCCL OFF)
set(SIMCSEPP_NCCL_SOURCE "none")
set(SIMCSEPP_NCCL_LIBRARY "")
set(SIMCSEPP_NCCL_VERSION "")
set(SIMCSEPP_NCCL_HEADER_VERSION "")
set(SIMCSEPP_TORCH_NCCL_VERSION "")

# "2.28.9" from an NCCL version code (NCCL_VERSION(): X*1000+Y*100+Z up to 2.8, X*10000+Y*100+Z after).
function(_simcsepp_nccl_code_to_version code out)
  if(code GREATER_EQUAL 20900)
    math(EXPR _x "${code} / 10000")
    math(EXPR _y "(${code} % 10000) / 100")
  else()
    math(EXPR _x "${code} / 1000")
    math(EXPR _y "(${code} % 1000) / 100")
  endif()
  math(EXPR _z "${code} % 100")
  set(${out} "${_x}.${_y}.${_z}" PARENT_SCOPE)
endfunction()

# Sets _nccl_inc/_nccl_lib when <include dirs> hold nccl.h and <lib dirs> libnccl.so[.2].
function(_simcsepp_nccl_at incs libs)
  set(_inc "")
  set(_lib "")
  foreach(d ${incs})
    if(NOT _inc AND EXISTS "${d}/nccl.h")
      set(_inc "${d}")
    endif()
  endforeach()
  foreach(d ${libs})
    foreach(n libnccl.so libnccl.so.2)  # the wheel ships libnccl.so.2 only
      if(NOT _lib AND EXISTS "${d}/${n}")
        set(_lib "${d}/${n}")
      endif()
    endforeach()
  endforeach()
  set(_nccl_inc "${_inc}" PARENT_SCOPE)
  set(_nccl_lib "${_lib}" PARENT_SCOPE)
endfunction()

if(SIMCSEPP_HAVE_CUDA)
  # torch's copy and the NCCL libtorch_cuda was compiled against (torch.cuda.nccl.version() is
  # the header version of torch's build, not a run-time query; it needs no GPU).
  execute_process(
    COMMAND ${SIMCSEPP_PYTHON} -c [=[
import os, torch
d = os.path.join(os.path.dirname(os.path.dirname(torch.__file__)), "nvidia", "nccl")
print(d if os.path.isfile(os.path.join(d, "include", "nccl.h")) else "")
try:
    print(".".join(map(str, torch.cuda.nccl.version())))
except Exception:
    print("")
]=]
    OUTPUT_VARIABLE _torch_nccl RESULT_VARIABLE _rc)
  string(REPLACE "\n" ";" _torch_nccl "${_torch_nccl};;")
  list(GET _torch_nccl 0 _wheel_nccl)
  list(GET _torch_nccl 1 SIMCSEPP_TORCH_NCCL_VERSION)

  if(SIMCSEPP_NCCL_ROOT)
    _simcsepp_nccl_at("${SIMCSEPP_NCCL_ROOT}/include"
                      "${SIMCSEPP_NCCL_ROOT}/lib;${SIMCSEPP_NCCL_ROOT}/lib64;${SIMCSEPP_NCCL_ROOT}/lib/x86_64-linux-gnu")
    if(NOT _nccl_inc OR NOT _nccl_lib)
      message(FATAL_ERROR "simcsepp: SIMCSEPP_NCCL_ROOT=${SIMCSEPP_NCCL_ROOT} has no include/nccl.h and "
                          "lib/libnccl.so[.2]. HINT: point it at torch's site-packages/nvidia/nccl or the "
                          "CUDA toolkit (/usr/local/cuda), or leave it empty to pick one of those.")
    endif()
    # Name a given root by what it is, so inspect says "torch wheel" for torch's copy either way.
    file(REAL_PATH "${SIMCSEPP_NCCL_ROOT}" _given)
    set(SIMCSEPP_NCCL_SOURCE "SIMCSEPP_NCCL_ROOT")
    if(_wheel_nccl)
      file(REAL_PATH "${_wheel_nccl}" _w)
      if(_given STREQUAL _w)
        set(SIMCSEPP_NCCL_SOURCE "torch wheel")
      endif()
    endif()
    if(CUDAToolkit_LIBRARY_ROOT)
      file(REAL_PATH "${CUDAToolkit_LIBRARY_ROOT}" _t)
      if(_given STREQUAL _t)
        set(SIMCSEPP_NCCL_SOURCE "CUDA toolkit")
      endif()
    endif()
  endif()
  if(NOT _nccl_lib AND _wheel_nccl)
    _simcsepp_nccl_at("${_wheel_nccl}/include" "${_wheel_nccl}/lib")
    set(SIMCSEPP_NCCL_SOURCE "torch wheel")
  endif()
  if(NOT _nccl_inc OR NOT _nccl_lib)
    _simcsepp_nccl_at("${CUDAToolkit_INCLUDE_DIRS};/usr/include"
                      "${CUDAToolkit_LIBRARY_DIR};/usr/lib/x86_64-linux-gnu")
    set(SIMCSEPP_NCCL_SOURCE "CUDA toolkit")
  endif()

  if(_nccl_inc AND _nccl_lib)
    file(STRINGS "${_nccl_inc}/nccl.h" _defs REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
    foreach(_d ${_defs})
      string(REGEX MATCH "NCCL_([A-Z]+) +([0-9]+)" _m "${_d}")
      set(_hdr_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
    endforeach()
    set(SIMCSEPP_NCCL_HEADER_VERSION "${_hdr_MAJOR}.${_hdr_MINOR}.${_hdr_PATCH}")
    # The library's own answer (ncclGetVersion needs no GPU): the header can lie about the .so.
    get_filename_component(_nccl_libdir "${_nccl_lib}" DIRECTORY)
    try_run(_probe_run _probe_compile ${CMAKE_BINARY_DIR}/nccl_version_probe
            ${CMAKE_CURRENT_LIST_DIR}/nccl_version_probe.c
            LINK_LIBRARIES "${_nccl_lib}" LINK_OPTIONS "-Wl,-rpath,${_nccl_libdir}"
            COMPILE_OUTPUT_VARIABLE _probe_log RUN_OUTPUT_VARIABLE _probe_out)
    if(_probe_compile AND _probe_run EQUAL 0 AND _probe_out MATCHES "^[0-9]+")
      _simcsepp_nccl_code_to_version(${CMAKE_MATCH_0} SIMCSEPP_NCCL_VERSION)
    else()
      message(FATAL_ERROR "simcsepp: cannot ask ${_nccl_lib} for its version (ncclGetVersion probe: "
                          "compiled=${_probe_compile} ran=${_probe_run} output='${_probe_out}'). "
                          "HINT: the library is broken or not for this machine; pick another with -DSIMCSEPP_NCCL_ROOT.\n${_probe_log}")
    endif()
    if(NOT SIMCSEPP_NCCL_VERSION VERSION_EQUAL SIMCSEPP_NCCL_HEADER_VERSION)
      message(WARNING "simcsepp: ${_nccl_inc}/nccl.h says ${SIMCSEPP_NCCL_HEADER_VERSION} but "
                      "${_nccl_lib} is ${SIMCSEPP_NCCL_VERSION}.")
    endif()
    if(SIMCSEPP_TORCH_NCCL_VERSION AND SIMCSEPP_NCCL_VERSION VERSION_LESS SIMCSEPP_TORCH_NCCL_VERSION)
      message(FATAL_ERROR "simcsepp: NCCL ${SIMCSEPP_NCCL_VERSION} (${SIMCSEPP_NCCL_SOURCE}: ${_nccl_lib}) is "
                          "older than NCCL ${SIMCSEPP_TORCH_NCCL_VERSION}, which libtorch_cuda was built "
                          "with; one libnccl.so.2 serves both in a process, so torch would run on the older "
                          "one. HINT: -DSIMCSEPP_NCCL_ROOT=<site-packages>/nvidia/nccl (torch's own copy) "
                          "or a newer NCCL.")
    endif()
    set(SIMCSEPP_HAVE_NCCL ON)
    set(SIMCSEPP_NCCL_LIBRARY "${_nccl_lib}")
    add_library(simcsepp_nccl SHARED IMPORTED GLOBAL)
    set_target_properties(simcsepp_nccl PROPERTIES IMPORTED_LOCATION "${_nccl_lib}")
    target_include_directories(simcsepp_nccl SYSTEM INTERFACE "${_nccl_inc}")
    target_link_libraries(simcsepp_nccl INTERFACE CUDA::cudart)
  else()
    set(SIMCSEPP_NCCL_SOURCE "none")
    message(WARNING "simcsepp: CUDA found but no NCCL (nccl.h + libnccl.so) in torch's wheel or the "
                    "toolkit: no NCCL communicator. HINT: -DSIMCSEPP_NCCL_ROOT=<prefix>.")
  endif()
endif()
message(STATUS "simcsepp: CUDA ${SIMCSEPP_HAVE_CUDA} (${CUDAToolkit_VERSION}), NCCL ${SIMCSEPP_HAVE_NCCL}: "
               "${SIMCSEPP_NCCL_VERSION} from ${SIMCSEPP_NCCL_SOURCE} (${SIMCSEPP_NCCL_LIBRARY}); "
               "libtorch_cuda built with NCCL ${SIMCSEPP_TORCH_NCCL_VERSION}")
