// wordpiece_tokenizer_test.cpp - unit tests of the tokenizer on a tiny vocabulary (full parity
// with Hugging Face `tokenizers` over the shared corpora is tests/python/tokenizer_parity.py).
#include "data/wordpiece_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "data/sha256.h"
#include "data/token_batch.h"

namespace simcsepp::data {
namespace {

WordPieceTokenizer tiny(bool lowercase = true) {
  // ids:                 0       1       2       3       4       5      6     7       8     9
  return WordPieceTokenizer::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "un", "##aff",
                                          "##able", ",", "cafe", "!", "中", "Hello", "world"},
                                         lowercase);
}

TEST(BasicTokenizer, SplitsPunctuationCjkAndStripsAccents) {
  BasicTokenizer uncased(true);
  EXPECT_EQ(uncased.split("  Héllo,WORLD!\t中文 "), (std::vector<std::string>{"hello", ",", "world", "!", "中", "文"}));
  BasicTokenizer cased(false);
  EXPECT_EQ(cased.split("Héllo,WORLD"), (std::vector<std::string>{"Héllo", ",", "WORLD"}));
}

TEST(BasicTokenizer, DropsControlsAndReplacesInvalidUtf8) {
  BasicTokenizer t(true);
  Words words;
  const std::string text = std::string("a\x01") + "b\xff\xfe" + "c\u200b" + "d e\u00a0f";
  EXPECT_EQ(t.split(text, words), 2);  // two invalid bytes, replaced then dropped
  EXPECT_EQ(t.split(text), (std::vector<std::string>{"abcd", "e", "f"}));
  EXPECT_EQ(t.split("\xc4\xb0"), (std::vector<std::string>{"i"}));  // U+0130: NFD, drop the dot, lower
}

TEST(WordPieceTokenizer, GreedyLongestMatchAndUnknown) {
  const auto t = tiny();
  EXPECT_EQ(t.tokenize_ids("unaffable, hello!"), (std::vector<int32_t>{6, 7, 8, 9, 5, 11}));
  EXPECT_EQ(t.tokenize_ids("unaffx"), (std::vector<int32_t>{1}));  // any uncovered piece -> [UNK]
  EXPECT_EQ(t.tokenize_ids("Café"), (std::vector<int32_t>{10}));
  EXPECT_EQ(t.tokenize_ids(std::string(101, 'a')), (std::vector<int32_t>{1}));
  EXPECT_EQ(t.tokenize_ids("hello[MASK]x [SEP]"), (std::vector<int32_t>{5, 4, 1, 3}));
  EXPECT_EQ(tiny(false).tokenize_ids("Hello hello"), (std::vector<int32_t>{13, 5}));
}

TEST(WordPieceTokenizer, EncodeTruncatesAndPadBatchPads) {
  const auto t = tiny();
  EXPECT_EQ(t.encode("hello world hello", 4), (std::vector<int32_t>{2, 5, 14, 3}));
  bool truncated = false;
  int64_t invalid = 0;
  EXPECT_EQ(t.encode("hello", 8, &truncated, &invalid), (std::vector<int32_t>{2, 5, 3}));
  EXPECT_FALSE(truncated);
  t.encode("hello hello hello", 3, &truncated, &invalid);
  EXPECT_TRUE(truncated);
  EXPECT_THROW(t.encode("x", 1), Error);

  const TokenBatch b = pad_batch({{2, 5, 3}, {2, 3}}, 4, 0);
  EXPECT_EQ(b.rows, 2);
  EXPECT_EQ(b.input_ids, (std::vector<int64_t>{2, 5, 3, 0, 2, 3, 0, 0}));
  EXPECT_EQ(b.attention_mask, (std::vector<int64_t>{1, 1, 1, 0, 1, 1, 0, 0}));
}

TEST(WordPieceTokenizer, VocabErrorsNameTheFile) {
  try {
    WordPieceTokenizer::from_vocab_file("/nonexistent/vocab.txt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "/nonexistent/vocab.txt");
    EXPECT_FALSE(e.hint().empty());
  }
  const auto path = std::filesystem::temp_directory_path() / "simcsepp_bad_vocab.txt";
  std::ofstream(path) << "[PAD]\nhello\n";
  EXPECT_THROW(WordPieceTokenizer::from_vocab_file(path.string()), Error);
  std::filesystem::remove(path);
}

TEST(WordPieceTokenizer, SharedVocabularyLoads) {
  const char* shared = std::getenv("SIMCSEPP_SHARED_DATA");
  ASSERT_NE(shared, nullptr) << "SIMCSEPP_SHARED_DATA not set (ctest sets it)";
  const auto t = WordPieceTokenizer::from_vocab_file(std::string(shared) + "/vocab/bert-base-uncased-vocab.txt");
  EXPECT_EQ(t.vocab_size(), 30522);
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.unk_id(), 100);
  EXPECT_EQ(t.cls_id(), 101);
  EXPECT_EQ(t.sep_id(), 102);
  EXPECT_EQ(t.vocab_sha256().size(), 64u);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

}  // namespace
}  // namespace simcsepp::data
