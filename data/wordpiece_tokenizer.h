// wordpiece_tokenizer.h - BERT WordPiece tokenizer loaded from a vocab.txt (no torch).
//
// BasicTokenizer (normalization + pre-tokenization, basic_tokenizer.h) followed by greedy
// longest-match-first WordPiece with "##" continuation pieces; a word longer than 100 characters,
// or one that cannot be covered by vocabulary pieces, becomes [UNK]. Like the Hugging Face
// reference (BertWordPieceTokenizer), the literal special-token strings [PAD] [UNK] [CLS] [SEP]
// [MASK] in the input map to their ids. encode() adds [CLS] ... [SEP] and truncates to max_len.
//
// Thread-safety: an instance is immutable after construction; all methods are const and may be
// called from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/basic_tokenizer.h"

namespace simcsepp::data {

class VocabIndex;  // hash map token -> id (wordpiece_tokenizer.cpp)

class WordPieceTokenizer {
 public:
  // Throws simcsepp::Error naming the path if missing/invalid (empty, or without the
  // [PAD] [UNK] [CLS] [SEP] tokens).
  static WordPieceTokenizer from_vocab_file(const std::string& vocab_path, bool lowercase = true);
  // From vocabulary lines (id = position); `source` names where they came from in errors.
  static WordPieceTokenizer from_tokens(std::vector<std::string> tokens, bool lowercase = true,
                                        const std::string& source = "<memory>");

  WordPieceTokenizer(WordPieceTokenizer&&) noexcept;
  WordPieceTokenizer& operator=(WordPieceTokenizer&&) noexcept;
  ~WordPieceTokenizer();

  std::vector<int32_t> tokenize_ids(std::string_view text) const;  // no [CLS]/[SEP]
  // Same, appending to `out`; returns how many invalid UTF-8 sequences were replaced.
  int64_t tokenize_ids(std::string_view text, std::vector<int32_t>& out) const;
  // [CLS] ... [SEP], truncated to max_len (>= 2) tokens in total.
  std::vector<int32_t> encode(std::string_view text, int max_len) const;
  // Same; *truncated is set when tokens were cut, *invalid_utf8 counts replacements.
  std::vector<int32_t> encode(std::string_view text, int max_len, bool* truncated, int64_t* invalid_utf8) const;

  int32_t pad_id() const { return pad_id_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t unk_id() const { return unk_id_; }
  int32_t mask_id() const { return mask_id_; }  // -1 when the vocabulary has no [MASK]
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  // sha256 of the vocabulary as lines joined by '\n' (independent of the file's line endings).
  const std::string& vocab_sha256() const { return vocab_sha256_; }
  bool lowercase() const { return basic_.lowercase(); }
  const std::string& token(int32_t id) const { return tokens_.at(static_cast<size_t>(id)); }
  // Words longer than this many characters become [UNK] (BERT's max_input_chars_per_word).
  static constexpr uint32_t kMaxCharsPerWord = 100;

 private:
  WordPieceTokenizer(std::vector<std::string> tokens, bool lowercase, const std::string& source);
  void wordpiece(std::string_view word, uint32_t num_chars, std::vector<int32_t>& out) const;
  int64_t tokenize_segment(std::string_view text, std::vector<int32_t>& out) const;

  BasicTokenizer basic_;
  std::vector<std::string> tokens_;
  std::unique_ptr<VocabIndex> whole_words_;    // every token
  std::unique_ptr<VocabIndex> continuations_;  // "##x" tokens, keyed by "x"
  std::vector<std::pair<std::string, int32_t>> special_tokens_;
  int32_t pad_id_ = -1, cls_id_ = -1, sep_id_ = -1, unk_id_ = -1, mask_id_ = -1;
  std::string vocab_sha256_;
};

}  // namespace simcsepp::data
