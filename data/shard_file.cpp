// shard_file.cpp - HDF5 shard writing and reading (see shard_file.h for the layout).
#include "data/shard_file.h"

#include <hdf5.h>

#include <cstring>
#include <filesystem>
#include <mutex>
#include <sstream>

#include "base/error.h"

namespace simcsepp::data {

namespace {

std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

// Closes an HDF5 handle on scope exit.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

void silence_hdf5() {
  // We report errors ourselves. Per thread: a thread-safe HDF5 build keeps one error stack (and
  // its printing) per thread, and the reader loads shards on its prefetch threads.
  thread_local bool silenced = false;
  if (!silenced) H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  silenced = true;
}

const char* kHint = "the shard is truncated or corrupt (interrupted copy?); re-run `simcsepp prep` for this corpus";

// ---- writing --------------------------------------------------------------------------------
// Object creation properties without modification times: the same rows give the same bytes,
// so a resumed prep reproduces the checksums of an uninterrupted one.
hid_t untimed(hid_t property_class) {
  const hid_t plist = H5Pcreate(property_class);
  H5Pset_obj_track_times(plist, false);
  return plist;
}

void write_dataset(hid_t parent, const std::string& name, hid_t file_type, hid_t mem_type, const void* data, hsize_t n,
                   const std::string& path) {
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle create(untimed(H5P_DATASET_CREATE), H5Pclose);
  Handle set(H5Dcreate2(parent, name.c_str(), file_type, space.get(), H5P_DEFAULT, create.get(), H5P_DEFAULT),
             H5Dclose);
  if (!set.ok() || (n > 0 && H5Dwrite(set.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)) {
    throw Error("cannot write dataset " + name, path, "is the disk full?");
  }
}

void write_attr_int(hid_t obj, const char* name, int64_t value, const std::string& path) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!attr.ok() || H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0) {
    throw Error(std::string("cannot write attribute ") + name, path, "is the disk full?");
  }
}

void write_attr_string(hid_t obj, const char* name, const std::string& value, const std::string& path) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), padded.data()) < 0) {
    throw Error(std::string("cannot write attribute ") + name, path, "is the disk full?");
  }
}

// ---- reading --------------------------------------------------------------------------------
int64_t read_attr_int(hid_t obj, const char* name, const std::string& path) {
  if (H5Aexists(obj, name) <= 0) throw Error(std::string("shard lacks attribute ") + name, path, kHint);
  Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  int64_t v = 0;
  if (!attr.ok() || H5Aread(attr.get(), H5T_NATIVE_INT64, &v) < 0) {
    throw Error(std::string("cannot read attribute ") + name, path, kHint);
  }
  return v;
}

std::string read_attr_string(hid_t obj, const char* name, const std::string& path) {
  if (H5Aexists(obj, name) <= 0) throw Error(std::string("shard lacks attribute ") + name, path, kHint);
  Handle attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose);
  Handle type(attr.ok() ? H5Aget_type(attr.get()) : -1, H5Tclose);
  if (!type.ok() || H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0) {
    throw Error(std::string("attribute ") + name + " is not a fixed-length string", path, kHint);
  }
  std::string v(H5Tget_size(type.get()), '\0');
  if (H5Aread(attr.get(), type.get(), v.data()) < 0)
    throw Error(std::string("cannot read attribute ") + name, path, kHint);
  v.resize(strnlen(v.c_str(), v.size()));
  return v;
}

template <typename T>
std::vector<T> read_dataset(hid_t parent, const std::string& name, hid_t mem_type, const std::string& path) {
  if (H5Lexists(parent, name.c_str(), H5P_DEFAULT) <= 0) {
    throw Error("shard lacks dataset " + name, path, kHint);
  }
  Handle set(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle space(set.ok() ? H5Dget_space(set.get()) : -1, H5Sclose);
  if (!space.ok() || H5Sget_simple_extent_ndims(space.get()) != 1) {
    throw Error("dataset " + name + " is not one-dimensional", path, kHint);
  }
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  std::vector<T> out(n);
  if (n > 0 && H5Dread(set.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
    throw Error("cannot read dataset " + name, path, kHint);
  }
  return out;
}

std::vector<std::string> split_columns(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ';')) out.push_back(item);
  return out;
}

hid_t open_shard(const std::string& path, hid_t access = H5P_DEFAULT) {
  silence_hdf5();
  if (!std::filesystem::exists(path)) {
    throw Error("shard file is missing", path,
                "the manifest lists it; was the corpus directory copied partially? re-run `simcsepp prep`");
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) throw Error("not a readable HDF5 file", path, kHint);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, access);
  if (file < 0) throw Error("cannot open HDF5 shard", path, kHint);
  return file;
}

ShardAttributes read_attributes_locked(hid_t file, const std::string& path) {
  ShardAttributes a;
  a.schema_version = static_cast<int>(read_attr_int(file, "schema_version", path));
  a.vocab_sha256 = read_attr_string(file, "vocab_sha256", path);
  a.max_len = static_cast<int>(read_attr_int(file, "max_len", path));
  a.lowercase = read_attr_int(file, "lowercase", path) != 0;
  a.columns = split_columns(read_attr_string(file, "columns", path));
  a.fingerprint = read_attr_string(file, "fingerprint", path);
  a.first_row = read_attr_int(file, "first_row", path);
  a.rows = read_attr_int(file, "rows", path);
  if (H5Aexists(file, "prep_record") > 0) a.prep_record = read_attr_string(file, "prep_record", path);
  return a;
}

}  // namespace

void write_shard(const std::string& path, const ShardData& data, const ShardAttributes& attrs, bool uint16_ids) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  silence_hdf5();
  const std::string tmp = path + ".tmp";
  {
    Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (!file.ok()) throw Error("cannot create shard file", tmp, "is the output directory writable?");
    std::string joined;
    for (size_t c = 0; c < attrs.columns.size(); ++c) joined += (c ? ";" : "") + attrs.columns[c];
    write_attr_int(file.get(), "schema_version", attrs.schema_version, tmp);
    write_attr_string(file.get(), "vocab_sha256", attrs.vocab_sha256, tmp);
    write_attr_int(file.get(), "max_len", attrs.max_len, tmp);
    write_attr_int(file.get(), "lowercase", attrs.lowercase ? 1 : 0, tmp);
    write_attr_string(file.get(), "columns", joined, tmp);
    write_attr_string(file.get(), "fingerprint", attrs.fingerprint, tmp);
    write_attr_int(file.get(), "first_row", attrs.first_row, tmp);
    write_attr_int(file.get(), "rows", data.rows(), tmp);
    if (!attrs.prep_record.empty()) write_attr_string(file.get(), "prep_record", attrs.prep_record, tmp);
    for (size_t c = 0; c < data.columns.size(); ++c) {
      Handle group_create(untimed(H5P_GROUP_CREATE), H5Pclose);
      Handle group(H5Gcreate2(file.get(), attrs.columns[c].c_str(), H5P_DEFAULT, group_create.get(), H5P_DEFAULT),
                   H5Gclose);
      if (!group.ok()) throw Error("cannot create group " + attrs.columns[c], tmp, "is the disk full?");
      const auto& col = data.columns[c];
      // HDF5 converts int32 -> uint16 on write; the caller checked that ids fit.
      write_dataset(group.get(), "ids", uint16_ids ? H5T_STD_U16LE : H5T_STD_I32LE, H5T_NATIVE_INT32, col.ids.data(),
                    col.ids.size(), tmp);
      write_dataset(group.get(), "offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, col.offsets.data(), col.offsets.size(),
                    tmp);
    }
    write_dataset(file.get(), "source_line", H5T_STD_I64LE, H5T_NATIVE_INT64, data.source_line.data(),
                  data.source_line.size(), tmp);
    write_dataset(file.get(), "source_input", H5T_STD_I32LE, H5T_NATIVE_INT32, data.source_input.data(),
                  data.source_input.size(), tmp);
    if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) throw Error("cannot flush shard", tmp, "is the disk full?");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error("cannot rename finished shard into place: " + ec.message(), path, "");
}

ShardAttributes read_shard_attributes(const std::string& path) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  Handle file(open_shard(path), H5Fclose);
  return read_attributes_locked(file.get(), path);
}

namespace {

// Row lengths of one column between offsets [first, last]: within max_len, ascending.
bool offsets_consistent(const std::vector<int64_t>& offsets, int max_len) {
  for (size_t r = 0; r + 1 < offsets.size(); ++r) {
    const int64_t len = offsets[r + 1] - offsets[r];
    if (len < 0 || len > max_len) return false;
  }
  return true;
}

ShardData read_opened_shard(hid_t file, const std::string& path, ShardAttributes* attrs_out) {
  const ShardAttributes attrs = read_attributes_locked(file, path);
  ShardData data;
  data.source_line = read_dataset<int64_t>(file, "source_line", H5T_NATIVE_INT64, path);
  data.source_input = read_dataset<int32_t>(file, "source_input", H5T_NATIVE_INT32, path);
  if (data.rows() != attrs.rows || static_cast<int64_t>(data.source_input.size()) != attrs.rows) {
    throw Error("shard has " + std::to_string(data.rows()) + " rows, its attribute says " + std::to_string(attrs.rows),
                path, kHint);
  }
  for (const auto& name : attrs.columns) {
    ShardColumn col;
    col.ids = read_dataset<int32_t>(file, name + "/ids", H5T_NATIVE_INT32, path);
    col.offsets = read_dataset<int64_t>(file, name + "/offsets", H5T_NATIVE_INT64, path);
    // Validate the ragged structure once, so row() never reads out of bounds.
    const bool ok = static_cast<int64_t>(col.offsets.size()) == attrs.rows + 1 && col.offsets.front() == 0 &&
                    col.offsets.back() == static_cast<int64_t>(col.ids.size()) &&
                    offsets_consistent(col.offsets, attrs.max_len);
    if (!ok) throw Error("column " + name + " has inconsistent offsets", path, kHint);
    data.columns.push_back(std::move(col));
  }
  if (attrs_out) *attrs_out = attrs;
  return data;
}

// Elements [begin, begin + count) of a 1-D dataset; *size_out = its whole length.
template <typename T>
std::vector<T> read_dataset_range(hid_t parent, const std::string& name, hid_t mem_type, hsize_t begin, hsize_t count,
                                  hsize_t* size_out, const std::string& path) {
  if (H5Lexists(parent, name.c_str(), H5P_DEFAULT) <= 0) throw Error("shard lacks dataset " + name, path, kHint);
  Handle set(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle space(set.ok() ? H5Dget_space(set.get()) : -1, H5Sclose);
  if (!space.ok() || H5Sget_simple_extent_ndims(space.get()) != 1) {
    throw Error("dataset " + name + " is not one-dimensional", path, kHint);
  }
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  *size_out = n;
  if (begin + count > n) {
    throw Error(
        "dataset " + name + " has " + std::to_string(n) + " elements, rows need " + std::to_string(begin + count), path,
        kHint);
  }
  std::vector<T> out(count);
  if (count == 0) return out;
  Handle memory(H5Screate_simple(1, &count, nullptr), H5Sclose);
  if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &begin, nullptr, &count, nullptr) < 0 ||
      H5Dread(set.get(), mem_type, memory.get(), space.get(), H5P_DEFAULT, out.data()) < 0) {
    throw Error("cannot read dataset " + name, path, kHint);
  }
  return out;
}

}  // namespace

ShardData read_shard(const std::string& path, ShardAttributes* attrs_out) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  Handle file(open_shard(path), H5Fclose);
  return read_opened_shard(file.get(), path, attrs_out);
}

ShardData read_shard_image(const std::string& path, const std::vector<char>& bytes, ShardAttributes* attrs_out) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  silence_hdf5();
  // The core driver with a file image and no backing store never touches the file on disk.
  Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!access.ok() || H5Pset_fapl_core(access.get(), 1 << 16, false) < 0 ||
      (!bytes.empty() && H5Pset_file_image(access.get(), const_cast<char*>(bytes.data()), bytes.size()) < 0)) {
    throw Error("cannot set up an HDF5 file image", path, kHint);
  }
  if (bytes.empty()) throw Error("shard file is empty", path, kHint);
  // HDF5 1.10's core driver refuses an image under the name of a file that exists: any other
  // name will do, nothing is created.
  const std::string image_name = path + ".simcsepp-in-memory-image";
  Handle file(H5Fopen(image_name.c_str(), H5F_ACC_RDONLY, access.get()), H5Fclose);
  if (!file.ok()) throw Error("not a readable HDF5 file", path, kHint);
  return read_opened_shard(file.get(), path, attrs_out);
}

ShardRows read_shard_rows(const std::string& path, int64_t begin, int64_t end, ShardAttributes* attrs_out) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  // No sieve buffer: HDF5 would otherwise read up to 64 KiB of the dataset around a selection,
  // i.e. much of a neighbour rank's range.
  Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!access.ok() || H5Pset_sieve_buf_size(access.get(), 0) < 0) {
    throw Error("cannot set up HDF5 file access", path, kHint);
  }
  Handle file(open_shard(path, access.get()), H5Fclose);
  const ShardAttributes attrs = read_attributes_locked(file.get(), path);
  if (begin < 0 || end < begin || end > attrs.rows) {
    throw Error("rows " + std::to_string(begin) + ".." + std::to_string(end) + " are outside the shard's " +
                    std::to_string(attrs.rows),
                path, "the manifest and the shard disagree; re-run `simcsepp prep`");
  }
  ShardRows out;
  out.begin = begin;
  const auto count = static_cast<hsize_t>(end - begin);
  for (const auto& name : attrs.columns) {
    ShardColumn col;
    hsize_t offsets_size = 0, ids_size = 0;
    col.offsets = read_dataset_range<int64_t>(file.get(), name + "/offsets", H5T_NATIVE_INT64,
                                              static_cast<hsize_t>(begin), count + 1, &offsets_size, path);
    const int64_t first = col.offsets.front(), last = col.offsets.back();
    bool ok = static_cast<int64_t>(offsets_size) == attrs.rows + 1 && first >= 0 && last >= first &&
              offsets_consistent(col.offsets, attrs.max_len);
    if (ok) {
      col.ids = read_dataset_range<int32_t>(file.get(), name + "/ids", H5T_NATIVE_INT32, static_cast<hsize_t>(first),
                                            static_cast<hsize_t>(last - first), &ids_size, path);
      ok = (end < attrs.rows || last == static_cast<int64_t>(ids_size)) && (begin > 0 || first == 0);
    }
    if (!ok) throw Error("column " + name + " has inconsistent offsets", path, kHint);
    for (auto& o : col.offsets) o -= first;
    out.columns.push_back(std::move(col));
  }
  if (attrs_out) *attrs_out = attrs;
  return out;
}

}  // namespace simcsepp::data
