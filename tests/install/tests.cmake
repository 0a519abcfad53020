# Installing without root (docs/build.md, "Installing without root (clusters)"): a throwaway
# unprivileged user runs scripts/setup.sh in user mode and scripts/build.sh on a copy of this
# checkout, then runs what it built (tests/install/unprivileged_test.sh says what that proves and
# what not). Needs root to create the user and mount its tmpfs home (CI is root); about 1 min.
#
# install_smoke: the libtorch + MPI + HDF5 + Boost.Program_options + simcsepp_base program that
# test builds as the user. Not part of `all`: only that test builds it, in the user's build dir.
add_executable(install_smoke EXCLUDE_FROM_ALL ${CMAKE_CURRENT_LIST_DIR}/install_smoke.cpp)
target_link_libraries(install_smoke PRIVATE simcsepp_base simcsepp_torch simcsepp_hdf5 MPI::MPI_CXX
                      Boost::program_options simcsepp_warnings)
set_target_properties(install_smoke PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

add_test(NAME install.unprivileged COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/unprivileged_test.sh)
set_tests_properties(install.unprivileged PROPERTIES ENVIRONMENT "${SIMCSEPP_TEST_ENV}"
  TIMEOUT 900 PROCESSORS 2 LABELS "install;root")
