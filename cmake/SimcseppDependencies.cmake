# Every external dependency is found here, in one place, and turned into an imported target.
# Required: libtorch (from the PyPI wheel or the GPU machine's preinstalled torch), MPI, HDF5,
# nlohmann-json, Threads, ZLIB, OpenSSL's libcrypto. Optional with a loud message: CUDA toolkit +
# NCCL, prometheus-cpp. The GPU machine lacks utf8proc, prometheus-cpp (+ civetweb, libcurl),
# Boost.Program_options unless carried by scripts/device-build.sh, which unpacks Debian packages
# into a prefix.

find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)

# --- libtorch: ask the Python that owns it for its CMake prefix -------------------------------
# SIMCSEPP_PYTHON: given (-D), else $SIMCSEPP_VENV/bin/python, else /opt/simcsepp-venv, else python3.
if(NOT SIMCSEPP_PYTHON)
  if(EXISTS "$ENV{SIMCSEPP_VENV}/bin/python")
    set(SIMCSEPP_PYTHON "$ENV{SIMCSEPP_VENV}/bin/python")
  elseif(EXISTS /opt/simcsepp-venv/bin/python)
    set(SIMCSEPP_PYTHON /opt/simcsepp-venv/bin/python)
  else()
    find_program(SIMCSEPP_PYTHON python3 REQUIRED)
  endif()
endif()
set(SIMCSEPP_PYTHON "${SIMCSEPP_PYTHON}" CACHE FILEPATH "Python used for libtorch discovery and parity tests")
if(NOT Torch_DIR)
  execute_process(
    COMMAND ${SIMCSEPP_PYTHON} -c "import torch;print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "simcsepp: cannot import torch with ${SIMCSEPP_PYTHON}. "
                        "HINT: run scripts/setup.sh (creates /opt/simcsepp-venv with the pinned torch).")
  endif()
  list(APPEND CMAKE_PREFIX_PATH ${_torch_prefix})
endif()

set(SIMCSEPP_HAVE_CUDA OFF)
if(SIMCSEPP_WITH_CUDA)
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    find_package(CUDAToolkit)
  endif()
  if(CUDAToolkit_FOUND)
    set(SIMCSEPP_HAVE_CUDA ON)
    # Our .cu files (if any) use C++17 (nvcc 13 with CMake 3.25 has no CUDA20 dialect flag).
    set(CMAKE_CUDA_STANDARD 17)
    # Without this libtorch's config runs a GPU-detection program, which fails on CPU-only
    # machines; H100/H200 are sm_90.
    if(NOT TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
      set(TORCH_CUDA_ARCH_LIST "9.0")
    endif()
  endif()
endif()
if(NOT SIMCSEPP_HAVE_CUDA)
  # Tell libtorch's config not to look for CUDA either. A CUDA wheel's config looks anyway (it
  # was built with CUDA) and then needs a dialect nvcc knows and an arch list instead of probing
  # for a GPU; simcsepp itself compiles no CUDA code in this build (SIMCSEPP_HAVE_CUDA = 0).
  set(USE_CUDA OFF)
  set(CMAKE_CUDA_STANDARD 17)
  if(NOT TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "9.0")
  endif()
endif()

find_package(Torch REQUIRED)
# libtorch's INTERFACE flags carry -D_GLIBCXX_USE_CXX11_ABI and its include dirs; keep torch's
# headers as SYSTEM so -Wall -Wextra report only our own code.
add_library(simcsepp_torch INTERFACE)
target_link_libraries(simcsepp_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(simcsepp_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
message(STATUS "simcsepp: libtorch ${Torch_VERSION} from ${Torch_DIR}")

# One precompiled <torch/torch.h>, reused by every torch-using target (see SimcseppCompiler).
file(WRITE ${CMAKE_BINARY_DIR}/simcsepp_torch_pch.cpp "// precompiled header carrier\n")
add_library(simcsepp_torch_pch OBJECT ${CMAKE_BINARY_DIR}/simcsepp_torch_pch.cpp)
target_link_libraries(simcsepp_torch_pch PUBLIC simcsepp_torch simcsepp_warnings)
target_precompile_headers(simcsepp_torch_pch PRIVATE <torch/torch.h>)

# --- NCCL (GPU collectives): torch's copy or the toolkit's, version-checked ----------------
include(SimcseppNccl)

find_package(MPI REQUIRED COMPONENTS CXX)
find_package(HDF5 REQUIRED COMPONENTS C)
add_library(simcsepp_hdf5 INTERFACE)
target_include_directories(simcsepp_hdf5 SYSTEM INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(simcsepp_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(simcsepp_hdf5 INTERFACE ${HDF5_DEFINITIONS})

find_package(nlohmann_json 3 REQUIRED)

# SHA-256 of vocabularies, shards and checkpoints (data/sha256.cpp): OpenSSL's EVP digests.
find_package(OpenSSL 3 COMPONENTS Crypto)
if(NOT OpenSSL_FOUND OR NOT TARGET OpenSSL::Crypto)
  message(FATAL_ERROR "simcsepp: OpenSSL's libcrypto (headers + libcrypto.so) not found (SHA-256 checksums need it). "
                      "HINT: apt-get install libssl-dev, or scripts/device-build.sh on the GPU machine.")
endif()

# --- optional Debian packages -----------------------------------------------------------------
find_package(PkgConfig)
find_path(UTF8PROC_INCLUDE_DIR utf8proc.h)
find_library(UTF8PROC_LIBRARY utf8proc)
if(UTF8PROC_INCLUDE_DIR AND UTF8PROC_LIBRARY)
  add_library(simcsepp_utf8proc INTERFACE)
  target_include_directories(simcsepp_utf8proc SYSTEM INTERFACE ${UTF8PROC_INCLUDE_DIR})
  target_link_libraries(simcsepp_utf8proc INTERFACE ${UTF8PROC_LIBRARY})
else()
  message(FATAL_ERROR "simcsepp: utf8proc not found (the tokenizer needs it). "
                      "HINT: apt-get install libutf8proc-dev, or scripts/device-build.sh on the GPU machine.")
endif()

# zstd (libzstd-dev) for `.zst` prep inputs: optional, a build without it refuses .zst inputs
# by name. data/ links simcsepp_zstd PRIVATE (so no other target's compile flags change).
find_path(ZSTD_INCLUDE_DIR zstd.h)
find_library(ZSTD_LIBRARY zstd)
add_library(simcsepp_zstd INTERFACE)
set(SIMCSEPP_HAVE_ZSTD OFF)
if(ZSTD_INCLUDE_DIR AND ZSTD_LIBRARY)
  set(SIMCSEPP_HAVE_ZSTD ON)
  if(NOT ZSTD_INCLUDE_DIR STREQUAL "/usr/include")
    target_include_directories(simcsepp_zstd SYSTEM INTERFACE ${ZSTD_INCLUDE_DIR})
  endif()
  target_link_libraries(simcsepp_zstd INTERFACE ${ZSTD_LIBRARY})
  target_compile_definitions(simcsepp_zstd INTERFACE SIMCSEPP_HAVE_ZSTD=1)
else()
  message(WARNING "simcsepp: zstd not found: `simcsepp prep` refuses .zst inputs. HINT: apt-get install libzstd-dev.")
endif()

# prometheus-cpp (Debian prometheus-cpp-dev; its config also wants civetweb and libcurl for pull
# and push) renders /metrics: its core (families, text serializer). civetweb's server answers the
# requests with simcsepp's own handler (monitoring/prometheus_cpp/metrics_exposer.h says why not
# the pull library's Exposer). SIMCSEPP_WITH_PROMETHEUS_CPP=OFF builds
# as a machine without it would (the tests that need it then fail by name, see tests/CMakeLists.txt).
option(SIMCSEPP_WITH_PROMETHEUS_CPP "Serve Prometheus /metrics with prometheus-cpp when it is found" ON)
set(SIMCSEPP_HAVE_PROMETHEUS_CPP OFF)
if(SIMCSEPP_WITH_PROMETHEUS_CPP)
  find_package(prometheus-cpp CONFIG QUIET)  # Debian ships no version file: 1.0.1
  find_package(civetweb CONFIG QUIET)  # the HTTP server: CivetServer and the C API request filter
endif()
if(SIMCSEPP_WITH_PROMETHEUS_CPP AND prometheus-cpp_FOUND AND TARGET prometheus-cpp::core AND TARGET civetweb::civetweb-cpp)
  set(SIMCSEPP_HAVE_PROMETHEUS_CPP ON)
  add_library(simcsepp_prometheus_cpp INTERFACE)
  target_link_libraries(simcsepp_prometheus_cpp INTERFACE prometheus-cpp::core civetweb::civetweb
                        civetweb::civetweb-cpp)
  message(STATUS "simcsepp: prometheus-cpp from ${prometheus-cpp_DIR} serves /metrics")
else()
  message(WARNING "simcsepp: prometheus-cpp not found (or SIMCSEPP_WITH_PROMETHEUS_CPP=OFF): the Prometheus /metrics "
                  "endpoint is disabled (training runs; metrics still go to the JSONL log) and the tests that need it "
                  "fail. HINT: apt-get install prometheus-cpp-dev (it brings libcivetweb-dev and libcurl4-openssl-dev), "
                  "or scripts/device-build.sh on the GPU machine.")
endif()

find_package(Boost 1.74 REQUIRED COMPONENTS program_options)

find_package(GTest)
