// text_source.cpp - line, CSV and record readers for prep inputs (see text_source.h).
#include "data/text_source.h"

#include <filesystem>
#include <fstream>
#include <initializer_list>

#include "base/error.h"
#include "data/byte_stream.h"

namespace simcsepp::data {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What the first bytes say a file is, for the formats people hand to prep by mistake.
std::string foreign_format(const std::string& path) {
  unsigned char m[8] = {0};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(m), sizeof(m));
  const auto n = in.gcount();
  auto is = [&](std::initializer_list<unsigned char> magic) {
    if (n < static_cast<std::streamsize>(magic.size())) return false;
    size_t i = 0;
    for (unsigned char b : magic)
      if (m[i++] != b) return false;
    return true;
  };
  if (is({0xFD, '7', 'z', 'X', 'Z', 0x00})) return "xz";
  if (is({'B', 'Z', 'h'}) && m[3] >= '1' && m[3] <= '9' && m[4] == 0x31 && m[5] == 0x41) return "bzip2";
  if (is({'P', 'K', 0x03, 0x04})) return "zip";
  if (is({0x89, 'H', 'D', 'F', '\r', '\n', 0x1A, '\n'})) return "HDF5";
  return "";
}

}  // namespace

InputFormat input_format_of(const std::string& path) {
  return ends_with(path, ".csv") || ends_with(path, ".csv.gz") || ends_with(path, ".csv.zst") ? InputFormat::kCsv
                                                                                               : InputFormat::kText;
}

LineReader::LineReader(const std::string& path, int64_t begin, int64_t end, int64_t lines_before)
    : path_(path), line_number_(lines_before), offset_(begin) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw Error("input file does not exist", path, "check the path given to --input");
  if (fs::is_directory(status)) {
    throw Error("input is a directory, not a file", path,
                "pass the files inside it, e.g. --input " + (fs::path(path) / "*.txt").string());
  }
  if (const std::string other = foreign_format(path); !other.empty()) {
    throw Error("input is a " + other + " file, not text, gzip'd or zstd-compressed text or CSV", path,
                other == "HDF5" ? "this looks like a prepared shard; pass the original text to prep"
                                : "decompress it (or recompress it with gzip or zstd) first");
  }
  stream_ = open_byte_stream(path, begin, end);
}

LineReader::~LineReader() = default;

bool LineReader::fill() {
  if (eof_) return false;
  buffer_.erase(0, pos_);
  pos_ = 0;
  const size_t old = buffer_.size();
  buffer_.resize(old + (1 << 20));
  size_t n = 0;
  try {
    n = stream_->read(buffer_.data() + old, 1 << 20);
  } catch (const Error& e) {
    // Name the last good line: where the damage starts.
    if (line_number_ == 0) throw;
    throw Error(e.message(), path_ + ": after line " + std::to_string(line_number_), e.hint());
  }
  buffer_.resize(old + n);
  if (n == 0) eof_ = true;
  return n > 0;
}

bool LineReader::next(std::string& line, int64_t* line_number) {
  for (;;) {
    const size_t nl = buffer_.find('\n', pos_);
    if (nl != std::string::npos) {
      line.assign(buffer_, pos_, nl - pos_);
      offset_ += static_cast<int64_t>(nl + 1 - pos_);
      pos_ = nl + 1;
      break;
    }
    if (!fill()) {
      if (pos_ >= buffer_.size()) return false;
      line.assign(buffer_, pos_, std::string::npos);  // last line without '\n'
      offset_ += static_cast<int64_t>(buffer_.size() - pos_);
      pos_ = buffer_.size();
      break;
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  ++line_number_;
  if (line.find('\0') != std::string::npos) {
    throw Error("binary data (a NUL byte) in the input", path_ + ":" + std::to_string(line_number_),
                "expected UTF-8 text (one sentence per line), gzip'd or zstd-compressed text or CSV; is this the right file?");
  }
  if (line_number) *line_number = line_number_;
  return true;
}

bool parse_csv_record(std::string_view text, std::vector<std::string>& fields) {
  fields.clear();
  fields.emplace_back();
  bool in_quotes = false;
  bool field_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          fields.back().push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        fields.back().push_back(c);
      }
    } else if (c == ',') {
      fields.emplace_back();
      field_start = true;
      continue;
    } else if (c == '"' && field_start) {
      in_quotes = true;
    } else {
      fields.back().push_back(c);
    }
    field_start = false;
  }
  return !in_quotes;
}

RecordReader::RecordReader(const std::string& path, int64_t begin, int64_t end, int64_t lines_before)
    : lines_reader_(path, begin, end, lines_before), format_(input_format_of(path)), lines_(0) {
  if (format_ == InputFormat::kText) {
    columns_ = {"text"};
    return;
  }
  int64_t line_no = 0;
  std::string header;
  if (!lines_reader_.next(header, &line_no)) {
    throw Error("CSV file is empty (no header)", path + ":1", "the first line must be sent0,sent1[,hard_neg]");
  }
  lines_ = 1;
  if (header.rfind("\xEF\xBB\xBF", 0) == 0) header.erase(0, 3);  // UTF-8 byte order mark
  std::vector<std::string> names;
  parse_csv_record(header, names);
  for (auto& n : names) {
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.pop_back();
    while (!n.empty() && (n.front() == ' ' || n.front() == '\t')) n.erase(0, 1);
  }
  const bool pair = names == std::vector<std::string>{"sent0", "sent1"};
  const bool triplet = names == std::vector<std::string>{"sent0", "sent1", "hard_neg"};
  if (!pair && !triplet) {
    throw Error("wrong CSV header '" + header + "'", path + ":1",
                "supervised data needs the header sent0,sent1 or sent0,sent1,hard_neg (SimCSE's NLI format)");
  }
  columns_ = names;
}

bool RecordReader::next(SourceRecord& record) {
  int64_t line_no = 0;
  if (!lines_reader_.next(line_, &line_no)) return false;
  ++lines_;
  record.line = line_no;
  if (format_ == InputFormat::kText) {
    record.fields.resize(1);
    record.fields[0] = line_;
    return true;
  }
  std::string text = line_;
  while (!parse_csv_record(text, record.fields)) {
    if (!lines_reader_.next(line_, nullptr)) {
      throw Error("unterminated quoted field at end of file", lines_reader_.path() + ":" + std::to_string(line_no),
                  "a field opened with \" must be closed with \"");
    }
    ++lines_;
    text += '\n';
    text += line_;
  }
  // A blank line is an empty record (counted and skipped by prep), not a malformed one.
  if (record.fields.size() == 1 && record.fields[0].empty()) return true;
  if (record.fields.size() != columns_.size()) {
    throw Error("CSV record has " + std::to_string(record.fields.size()) + " fields, the header has " +
                    std::to_string(columns_.size()),
                lines_reader_.path() + ":" + std::to_string(line_no),
                "quote fields that contain commas (\"a, b\"); every record needs all columns");
  }
  return true;
}

}  // namespace simcsepp::data
