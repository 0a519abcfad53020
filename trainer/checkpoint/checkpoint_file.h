// checkpoint_file.h - the on-disk format of training checkpoints, written atomically.
//
// One file: "SIMCSEPP-CKPT-1\n", u64 header length, a JSON header (the caller's metadata plus a
// table of tensors: name, dtype, shape, offset, bytes), the raw tensor bytes (little-endian, C
// order), and a trailer: the sha256 (64 hex chars) of everything before it. Writing goes to a
// temp file in the same directory, fsync, rename, fsync of the directory, so a crash leaves
// either the old set of checkpoints or the new one, never a torn file. Reading verifies the
// checksum before anything is trusted.
#pragma once

#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace simcsepp::trainer {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct CheckpointContents {
  nlohmann::json meta;
  NamedTensors tensors;                                    // CPU tensors, in file order
  const torch::Tensor& at(const std::string& name) const;  // throws simcsepp::Error if absent
};

// Tensors may live on any device (copied to the host). Throws simcsepp::Error on I/O failure.
void write_checkpoint_file(const std::string& path, const nlohmann::json& meta, const NamedTensors& tensors);

// Throws simcsepp::Error naming the file when it is truncated, corrupt (checksum) or malformed.
CheckpointContents read_checkpoint_file(const std::string& path);

// Checks only the checksum and header (no tensors materialised); false + reason if invalid.
bool verify_checkpoint_file(const std::string& path, std::string* reason);

// The caller's metadata of a valid file (checksum verified, no tensors read); throws
// simcsepp::Error naming the file otherwise.
nlohmann::json read_checkpoint_meta(const std::string& path);

}  // namespace simcsepp::trainer
