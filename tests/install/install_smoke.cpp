// install_smoke.cpp - the small libtorch-linked program tests/install/unprivileged_test.sh builds
// and runs as an unprivileged user (not part of `all`: only that test builds it). Each dependency
// does real work whose result is checked: libtorch from the user's venv computes, MPI sums across
// ranks, HDF5 writes and reads back, Boost.Program_options parses the arguments, simcsepp_base
// logs and removes a tree. Rank 0 prints where each library was loaded from, so the test can
// check that libtorch is the user's venv's and not another one found on the machine.
#include <hdf5.h>
#include <mpi.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <torch/version.h>
#include <vector>

#include "base/log.h"
#include "base/remove_tree.h"

namespace {

// The file of the first mapped library whose name contains `name` (from /proc/self/maps).
std::string loaded(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    if (slash != std::string::npos && line.find(name, slash) != std::string::npos) return line.substr(slash);
  }
  return "(" + name + " not loaded)";
}

[[noreturn]] void fail(const std::string& what) {
  std::cerr << "install_smoke: FAILED: " << what << std::endl;
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  int world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);

  namespace po = boost::program_options;
  std::string out;
  int64_t n = 0;
  po::options_description opts("install_smoke");
  opts.add_options()("out", po::value<std::string>(&out)->required(), "HDF5 file rank 0 writes")(
      "n", po::value<int64_t>(&n)->default_value(1000), "tensor length");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    fail(std::string("arguments: ") + e.what());
  }
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  simcsepp::log::set_identity(rank, world, host);

  // libtorch: rank r holds (r+1) * [0, n); the allreduced sum is known in closed form.
  at::Tensor x = at::arange(n, at::kDouble) * static_cast<double>(rank + 1);
  double local = x.sum().item<double>();
  double global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  const double expected = static_cast<double>(n) * (n - 1) / 2 * world * (world + 1) / 2;
  if (global != expected) {
    fail("allreduce of the torch sums gave " + std::to_string(global) + ", expected " +
         std::to_string(expected));
  }

  if (rank == 0) {
    // HDF5: write rank 0's tensor, read it back, compare exactly.
    hid_t file = H5Fcreate(out.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) fail("H5Fcreate " + out);
    hsize_t dims[1] = {static_cast<hsize_t>(n)};
    hid_t space = H5Screate_simple(1, dims, nullptr);
    hid_t set = H5Dcreate2(file, "x", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (set < 0 || H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x.data_ptr<double>()) < 0)
      fail("H5Dwrite " + out);
    H5Dclose(set);
    H5Sclose(space);
    H5Fclose(file);
    std::vector<double> back(static_cast<size_t>(n));
    file = H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    set = file < 0 ? -1 : H5Dopen2(file, "x", H5P_DEFAULT);
    if (set < 0 || H5Dread(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data()) < 0)
      fail("H5Dread " + out);
    H5Dclose(set);
    H5Fclose(file);
    if (!at::equal(at::from_blob(back.data(), {n}, at::kDouble), x)) fail("HDF5 read back differs");

    // simcsepp_base: remove_tree on a small tree beside the output.
    const std::filesystem::path scratch = out + ".tree";
    std::filesystem::create_directories(scratch / "a" / "b");
    std::ofstream(scratch / "a" / "b" / "f") << "x";
    simcsepp::remove_tree(scratch);
    if (std::filesystem::exists(scratch)) fail("remove_tree left " + scratch.string());

    char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int len = 0;
    MPI_Get_library_version(mpi_version, &len);
    std::string mpi_first_line(mpi_version, static_cast<size_t>(len));
    mpi_first_line = mpi_first_line.substr(0, mpi_first_line.find_first_of(",\n"));
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    std::cout << "install_smoke: libtorch " << TORCH_VERSION << " "
              << loaded("libtorch_cpu.so") << "\n"
              << "install_smoke: MPI " << mpi_first_line << " "
              << loaded("libmpi") << "\n"
              << "install_smoke: HDF5 " << maj << "." << min << "." << rel << " "
              << loaded("libhdf5") << "\n"
              << "install_smoke: ok: " << world << " ranks, allreduced sum " << global << ", "
              << n << " doubles through " << out << std::endl;
    LOG_INFO("install_smoke done on " << simcsepp::log::where_am_i());
  }
  MPI_Finalize();
  return 0;
}
