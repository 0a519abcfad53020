// wordpiece_tokenizer.cpp - vocabulary loading, WordPiece matching and encoding.
//
// The vocabulary lives in an open-addressing hash table over string_views (no allocation per
// lookup); "##" continuation pieces get their own table keyed without the prefix, so matching a
// suffix never builds a temporary string.
#include "data/wordpiece_tokenizer.h"

#include <fstream>
#include <unordered_map>

#include "base/error.h"
#include "data/sha256.h"

namespace simcsepp::data {

// ------------------------------------------------------------------------------------------------
// VocabIndex: string_view -> id, linear probing, power-of-two capacity, load <= 0.5.
class VocabIndex {
 public:
  explicit VocabIndex(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }
  // Later duplicates win, like the reference's vocabulary loader.
  void insert(std::string_view key, int32_t id) {
    const uint64_t h = hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s = Slot{h, key, id};
        return;
      }
      if (s.hash == h && s.key == key) {
        s.id = id;
        return;
      }
    }
  }
  int32_t find(std::string_view key) const {
    const uint64_t h = hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == h && s.key == key) return s.id;
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    std::string_view key;  // points into WordPieceTokenizer::tokens_ (stable after construction)
    int32_t id = -1;
  };
  static uint64_t hash(std::string_view key) {  // FNV-1a, then a final mix for the low bits
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
    return h ^ (h >> 29);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// ------------------------------------------------------------------------------------------------

WordPieceTokenizer::WordPieceTokenizer(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer& WordPieceTokenizer::operator=(WordPieceTokenizer&&) noexcept = default;
WordPieceTokenizer::~WordPieceTokenizer() = default;

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& vocab_path, bool lowercase) {
  std::ifstream in(vocab_path, std::ios::binary);
  if (!in) {
    throw Error("cannot open vocabulary file", vocab_path,
                "pass a BERT vocab.txt (one token per line), e.g. ../shared/data/vocab/bert-base-uncased-vocab.txt");
  }
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    // Like the reference, trailing whitespace (and a Windows '\r') is not part of the token.
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    tokens.push_back(line);
  }
  if (in.bad()) throw Error("read error in vocabulary file", vocab_path, "is the file system healthy?");
  return WordPieceTokenizer(std::move(tokens), lowercase, vocab_path);
}

WordPieceTokenizer WordPieceTokenizer::from_tokens(std::vector<std::string> tokens, bool lowercase,
                                                   const std::string& source) {
  return WordPieceTokenizer(std::move(tokens), lowercase, source);
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> tokens, bool lowercase, const std::string& source)
    : basic_(lowercase), tokens_(std::move(tokens)) {
  if (tokens_.empty()) throw Error("vocabulary is empty", source, "is this really a BERT vocab.txt?");
  if (tokens_.size() > static_cast<size_t>(INT32_MAX)) throw Error("vocabulary too large", source, "");
  whole_words_ = std::make_unique<VocabIndex>(tokens_.size());
  continuations_ = std::make_unique<VocabIndex>(tokens_.size());
  Sha256 sha;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const std::string_view t = tokens_[i];
    const auto id = static_cast<int32_t>(i);
    whole_words_->insert(t, id);
    if (t.size() > 2 && t.substr(0, 2) == "##") continuations_->insert(t.substr(2), id);
    sha.update(t);
    sha.update("\n");
  }
  vocab_sha256_ = sha.hex_digest();
  auto required = [&](const char* name) {
    const int32_t id = whole_words_->find(name);
    if (id < 0) {
      throw Error(std::string("vocabulary has no ") + name + " token", source,
                  "a BERT vocab.txt lists [PAD] [UNK] [CLS] [SEP]; is this the right file?");
    }
    return id;
  };
  pad_id_ = required("[PAD]");
  unk_id_ = required("[UNK]");
  cls_id_ = required("[CLS]");
  sep_id_ = required("[SEP]");
  mask_id_ = whole_words_->find("[MASK]");
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
    const int32_t id = whole_words_->find(s);
    if (id >= 0) special_tokens_.emplace_back(s, id);
  }
}

void WordPieceTokenizer::wordpiece(std::string_view word, uint32_t num_chars, std::vector<int32_t>& out) const {
  if (num_chars > kMaxCharsPerWord) {
    out.push_back(unk_id_);
    return;
  }
  const int32_t whole = whole_words_->find(word);  // the common case: the word is one token
  if (whole >= 0) {
    out.push_back(whole);
    return;
  }
  const size_t first_piece = out.size();
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int32_t id = -1;
    while (start < end) {
      const std::string_view piece = word.substr(start, end - start);
      id = start == 0 ? whole_words_->find(piece) : continuations_->find(piece);
      if (id >= 0) break;
      // Step back one UTF-8 character.
      --end;
      while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) --end;
    }
    if (id < 0) {
      out.resize(first_piece);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(id);
    start = end;
  }
}

int64_t WordPieceTokenizer::tokenize_segment(std::string_view text, std::vector<int32_t>& out) const {
  thread_local Words words;
  words.clear();
  const int64_t invalid = basic_.split(text, words);
  for (size_t i = 0; i < words.spans.size(); ++i) wordpiece(words.word(i), words.spans[i].num_chars, out);
  return invalid;
}

int64_t WordPieceTokenizer::tokenize_ids(std::string_view text, std::vector<int32_t>& out) const {
  // Literal special tokens are matched on the raw text first, as the reference does.
  int64_t invalid = 0;
  size_t segment_start = 0;
  size_t pos = text.find('[');
  while (pos != std::string_view::npos) {
    bool matched = false;
    for (const auto& [s, id] : special_tokens_) {
      if (text.compare(pos, s.size(), s) == 0) {
        invalid += tokenize_segment(text.substr(segment_start, pos - segment_start), out);
        out.push_back(id);
        segment_start = pos + s.size();
        pos = segment_start;
        matched = true;
        break;
      }
    }
    pos = text.find('[', matched ? pos : pos + 1);
  }
  invalid += tokenize_segment(text.substr(segment_start), out);
  return invalid;
}

std::vector<int32_t> WordPieceTokenizer::tokenize_ids(std::string_view text) const {
  std::vector<int32_t> out;
  tokenize_ids(text, out);
  return out;
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, int max_len, bool* truncated,
                                                int64_t* invalid_utf8) const {
  if (max_len < 2) {
    throw Error("max_len " + std::to_string(max_len) + " leaves no room for [CLS] and [SEP]", "max_len",
                "use max_len >= 2 (the SimCSE recipe uses 32)");
  }
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(max_len));
  ids.push_back(cls_id_);
  const int64_t invalid = tokenize_ids(text, ids);
  const bool cut = ids.size() > static_cast<size_t>(max_len - 1);
  if (cut) ids.resize(static_cast<size_t>(max_len - 1));
  ids.push_back(sep_id_);
  if (truncated) *truncated = cut;
  if (invalid_utf8) *invalid_utf8 += invalid;
  return ids;
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, int max_len) const {
  return encode(text, max_len, nullptr, nullptr);
}

}  // namespace simcsepp::data
