// Tests of data/sha256.h (OpenSSL EVP): FIPS 180-4 vectors, streaming in pieces that straddle
// the 64-byte block and padding boundaries, and the digests that existing corpora and
// checkpoints carry: the shipped vocabulary's file and fingerprint and a shipped corpus file,
// as Python's hashlib computes them (and as the hand-written SHA-256 before OpenSSL did), so
// manifests made before the switch still verify.
#include "data/sha256.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "base/error.h"
#include "data/wordpiece_tokenizer.h"

namespace simcsepp::data {
namespace {

std::string shared_data() {
  const char* dir = std::getenv("SIMCSEPP_SHARED_DATA");
  return dir ? dir : "../shared/data";
}

TEST(Sha256Digest, Fips180Vectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Digest, PiecesEqualOneShotAcrossBlockBoundaries) {
  std::string message;
  for (int i = 0; i < 300; ++i) message.push_back(char('a' + (i * 7) % 26));
  for (const std::size_t length : {55u, 56u, 63u, 64u, 65u, 119u, 128u, 300u}) {
    const std::string m = message.substr(0, length);
    const std::string expected = sha256_hex(m);
    for (const std::size_t piece : {1u, 3u, 63u, 64u, 65u}) {
      Sha256 h;
      for (std::size_t off = 0; off < m.size(); off += piece) h.update(std::string_view(m).substr(off, piece));
      EXPECT_EQ(h.hex_digest(), expected) << "length " << length << ", pieces of " << piece;
    }
  }
}

TEST(Sha256Digest, ShippedVocabularyAndCorpusKeepTheirDigests) {
  // hashlib.sha256(open(path, "rb").read()).hexdigest() for each file.
  const std::string vocab = shared_data() + "/vocab/bert-base-uncased-vocab.txt";
  EXPECT_EQ(sha256_file(vocab), "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3");
  EXPECT_EQ(sha256_file(shared_data() + "/corpus/wiki1m_head.txt"),
            "423e56115d182ab21d4f413473f6f615888d140fec81f06a750297b5940aa190");
  EXPECT_EQ(sha256_file(shared_data() + "/nli/snli_triplets.csv"),
            "1f386cee0aa8fd87e43391e58a5146975c495e49bd8df408adb6e683dd282994");
  // The fingerprint in every manifest and shard: hashlib.sha256("".join(t + "\n" for t in tokens)).
  // The vocabulary file is exactly that (LF endings, final newline), hence the same digest.
  EXPECT_EQ(WordPieceTokenizer::from_vocab_file(vocab).vocab_sha256(),
            "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3");
}

TEST(Sha256Digest, UnreadableFileNamesThePath) {
  try {
    sha256_file("/nonexistent/shard-00000.h5");
    FAIL() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/shard-00000.h5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace simcsepp::data
