// text_source.h - reading prep inputs: plain text, gzip'd text (one sentence per line) and CSV
// triplets with a header (sent0,sent1[,hard_neg]).
//
// Every record carries its 1-based physical line number so errors and shards can point back to
// the source. CSV follows RFC 4180 (quoted fields, "" escapes, newlines inside quotes); the
// parser itself is a pure function (parse_csv_record) so the fuzz target can drive it directly.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace simcsepp::data {

enum class InputFormat { kText, kCsv };

// ".csv" / ".csv.gz" / ".csv.zst" -> kCsv; everything else (".txt", ".gz", ...) -> kText.
// Compression is detected from the file's magic bytes, not the name.
InputFormat input_format_of(const std::string& path);

// Lines of a plain, gzip'd or zstd-compressed file, split on '\n' (a trailing '\r' is removed).
// The input is checked for being what it claims: a file (not a directory), not another compressed
// or binary format (xz, bzip2, zip, HDF5 by magic bytes), no NUL bytes (binary data), and a
// compressed stream must be complete - a truncated or corrupt stream is an Error naming the file
// and the last good line, never a silent short read.
class LineReader {
 public:
  // Throws simcsepp::Error naming the path when it is missing, a directory, or not text.
  explicit LineReader(const std::string& path) : LineReader(path, 0, -1, 0) {}
  // Plain files only for begin > 0 or end >= 0: the lines of bytes [begin, end), where begin is a
  // line start; `lines_before` is the number of lines before `begin` (for the line numbers).
  LineReader(const std::string& path, int64_t begin, int64_t end, int64_t lines_before);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  // False at end of file. *line_number is the 1-based number of the line returned.
  bool next(std::string& line, int64_t* line_number);
  const std::string& path() const { return path_; }
  // Logical (decompressed) byte offset just after the last line returned.
  int64_t offset() const { return offset_; }

 private:
  bool fill();
  std::string path_;
  std::unique_ptr<class ByteStream> stream_;
  std::string buffer_;
  size_t pos_ = 0;
  bool eof_ = false;
  int64_t line_number_ = 0;
  int64_t offset_ = 0;
};

// Parses CSV fields from `text`. Returns false when a quoted field is still open at the end
// (the record continues on the next line: append "\n" + next line and call again).
// Throws nothing; malformed quoting (text after a closing quote) is kept literally.
bool parse_csv_record(std::string_view text, std::vector<std::string>& fields);

// One input record: 1 field (text) or the CSV columns.
struct SourceRecord {
  std::vector<std::string> fields;
  int64_t line = 0;  // first physical line of the record
};

// Records of one input file of either format. For CSV the header is checked on construction:
// it must be sent0,sent1 or sent0,sent1,hard_neg (else simcsepp::Error naming file, line 1).
class RecordReader {
 public:
  explicit RecordReader(const std::string& path) : RecordReader(path, 0, -1, 0) {}
  // Text inputs: the records of bytes [begin, end) (see LineReader). CSV: whole files only.
  RecordReader(const std::string& path, int64_t begin, int64_t end, int64_t lines_before);
  const std::vector<std::string>& columns() const { return columns_; }
  // False at end of input. Throws simcsepp::Error (file:line) on a record with the wrong number
  // of fields or an unterminated quote at end of file.
  bool next(SourceRecord& record);
  // Physical lines consumed so far (header included).
  int64_t lines_read() const { return lines_; }
  // Logical byte offset just after the last record returned.
  int64_t offset() const { return lines_reader_.offset(); }
  const std::string& path() const { return lines_reader_.path(); }

 private:
  LineReader lines_reader_;
  InputFormat format_;
  std::vector<std::string> columns_;
  int64_t lines_ = 0;
  std::string line_;
};

}  // namespace simcsepp::data
