// embedding_writer.h - streams [N, H] float32 embeddings to a .npy or .h5 file, rows appended
// chunk by chunk so `simcsepp embed` never holds the whole output in memory.
//
// .npy: NumPy format 1.0, little-endian '<f4', C order; the header is written first with room to
//       spare and rewritten with the final row count by finish().
// .h5:  dataset "embeddings" float32 [N, H], chunked and extendible (N grows on each append),
//       with string attributes from set_attribute() (model, pooler, normalized).
// Rows are written to "<path>.partial", renamed to `path` by finish(): a writer destroyed
// unfinished removes its partial file, so an older output under `path` is never lost and never
// replaced by a half-written one - callers finish() on success only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace simcsepp::evaluation {

class EmbeddingWriter {
 public:
  virtual ~EmbeddingWriter() = default;
  // `rows` x hidden_size floats, row-major.
  virtual void append(const float* data, int64_t rows) = 0;
  // Metadata (ignored by .npy, which has no place for it).
  virtual void set_attribute(const std::string& key, const std::string& value) = 0;
  // Writes the final shape and closes the file.
  virtual void finish() = 0;
  virtual int64_t rows_written() const = 0;
};

// By extension of `path`: ".npy" or ".h5"/".hdf5". Throws simcsepp::Error for any other, or
// when the file cannot be created.
std::unique_ptr<EmbeddingWriter> open_embedding_writer(const std::string& path, int64_t hidden_size);

}  // namespace simcsepp::evaluation
