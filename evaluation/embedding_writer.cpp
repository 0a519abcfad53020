// embedding_writer.cpp - .npy and .h5 embedding writers (see embedding_writer.h).
#include "evaluation/embedding_writer.h"

#include <hdf5.h>

#include <algorithm>
#include <cerrno>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/error.h"

namespace simcsepp::evaluation {

namespace {

// Rows go to "<path>.partial" and the file takes its name only when finished: a failed or
// interrupted run leaves an older output untouched and never a half-written one under the name.
std::string partial_path(const std::string& path) { return path + ".partial"; }

void publish(const std::string& partial, const std::string& path) {
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    throw Error(std::string("cannot move the finished file into place: ") + std::strerror(errno), path,
                "check that the output's directory is writable");
  }
}

// ---------------------------------------------------------------------------------------------
// NumPy .npy

class NpyWriter final : public EmbeddingWriter {
 public:
  NpyWriter(const std::string& path, int64_t hidden) : path_(path), partial_(partial_path(path)), hidden_(hidden) {
    out_.open(partial_, std::ios::binary | std::ios::trunc);
    if (!out_) throw Error("cannot create the output file", partial_, "check the folder exists and is writable");
    write_header();
  }
  void append(const float* data, int64_t rows) override {
    out_.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(rows * hidden_ * sizeof(float)));
    if (!out_) throw Error("write failed", path_, "is the disk full?");
    rows_ += rows;
  }
  void set_attribute(const std::string&, const std::string&) override {}
  void finish() override {
    out_.seekp(0);
    write_header();
    out_.close();
    if (!out_) throw Error("write failed while closing", partial_, "is the disk full?");
    publish(partial_, path_);
  }
  ~NpyWriter() override {
    if (out_.is_open()) {
      out_.close();
      std::remove(partial_.c_str());
    }
  }
  int64_t rows_written() const override { return rows_; }

 private:
  // Fixed 128-byte preamble (magic 6 + version 2 + length 2 + dict padded with spaces + '\n'),
  // a multiple of 64 as the format asks, big enough for any row count.
  void write_header() {
    static_assert(std::endian::native == std::endian::little, "'<f4' assumes a little-endian host");
    constexpr size_t kTotal = 128, kPreamble = 10;
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows_) + ", " +
                       std::to_string(hidden_) + "), }";
    dict.resize(kTotal - kPreamble - 1, ' ');
    dict.push_back('\n');
    const uint16_t len = static_cast<uint16_t>(dict.size());
    const char preamble[kPreamble] = {
        '\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    out_.write(preamble, kPreamble);
    out_.write(dict.data(), static_cast<std::streamsize>(dict.size()));
    if (!out_) throw Error("write failed", path_, "is the disk full?");
  }

  std::string path_, partial_;
  int64_t hidden_;
  int64_t rows_ = 0;
  std::ofstream out_;
};

// ---------------------------------------------------------------------------------------------
// HDF5

class Hdf5Writer final : public EmbeddingWriter {
 public:
  Hdf5Writer(const std::string& path, int64_t hidden) : path_(path), partial_(partial_path(path)), hidden_(hidden) {
    file_ = H5Fcreate(partial_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file_ < 0) throw Error("cannot create the HDF5 file", partial_, "check the folder exists and is writable");
    const hsize_t dims[2] = {0, static_cast<hsize_t>(hidden)};
    const hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(hidden)};
    const hid_t space = H5Screate_simple(2, dims, max_dims);
    const hid_t props = H5Pcreate(H5P_DATASET_CREATE);
    // ~1 MiB chunks whatever the width: a good unit for both writing and row-range reads.
    const hsize_t chunk[2] = {static_cast<hsize_t>(std::max<int64_t>(1, (1 << 18) / std::max<int64_t>(1, hidden))),
                              static_cast<hsize_t>(hidden)};
    H5Pset_chunk(props, 2, chunk);
    dataset_ = H5Dcreate2(file_, "embeddings", H5T_IEEE_F32LE, space, H5P_DEFAULT, props, H5P_DEFAULT);
    H5Pclose(props);
    H5Sclose(space);
    if (dataset_ < 0) throw Error("cannot create dataset 'embeddings'", path, "is the file writable?");
  }
  ~Hdf5Writer() override {
    if (file_ >= 0) {
      close();
      std::remove(partial_.c_str());  // not finished: the partial file goes, an older output stays
    }
  }
  void append(const float* data, int64_t rows) override {
    if (rows == 0) return;
    const hsize_t new_dims[2] = {static_cast<hsize_t>(rows_ + rows), static_cast<hsize_t>(hidden_)};
    check(H5Dset_extent(dataset_, new_dims), "extend dataset");
    const hid_t file_space = H5Dget_space(dataset_);
    const hsize_t start[2] = {static_cast<hsize_t>(rows_), 0};
    const hsize_t count[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(hidden_)};
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr);
    const hid_t mem_space = H5Screate_simple(2, count, nullptr);
    const herr_t rc = H5Dwrite(dataset_, H5T_NATIVE_FLOAT, mem_space, file_space, H5P_DEFAULT, data);
    H5Sclose(mem_space);
    H5Sclose(file_space);
    check(rc, "write rows");
    rows_ += rows;
  }
  void set_attribute(const std::string& key, const std::string& value) override {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, std::max<size_t>(1, value.size()));
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attr = H5Acreate2(dataset_, key.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
    const herr_t rc = attr < 0 ? -1 : H5Awrite(attr, type, value.c_str());
    if (attr >= 0) H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(type);
    check(rc, "write attribute " + key);
  }
  void finish() override {
    check(H5Fflush(file_, H5F_SCOPE_GLOBAL), "flush");
    close();
    publish(partial_, path_);
  }
  int64_t rows_written() const override { return rows_; }

 private:
  void check(herr_t rc, const std::string& what) const {
    if (rc < 0) throw Error("HDF5 failed to " + what, path_, "is the disk full or the file opened elsewhere?");
  }
  void close() {
    if (dataset_ >= 0) H5Dclose(dataset_);
    if (file_ >= 0) H5Fclose(file_);
    dataset_ = file_ = -1;
  }

  std::string path_, partial_;
  int64_t hidden_;
  int64_t rows_ = 0;
  hid_t file_ = -1;
  hid_t dataset_ = -1;
};

}  // namespace

std::unique_ptr<EmbeddingWriter> open_embedding_writer(const std::string& path, int64_t hidden_size) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".npy") return std::make_unique<NpyWriter>(path, hidden_size);
  if (ext == ".h5" || ext == ".hdf5") return std::make_unique<Hdf5Writer>(path, hidden_size);
  throw Error("unknown output format '" + ext + "'", path, "name the output file *.npy or *.h5");
}

}  // namespace simcsepp::evaluation
