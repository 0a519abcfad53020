// model_sts_tool.cpp - STS-B dev Spearman of a model directory, computed by simcsepp alone (its
// WordPiece tokenizer, encoder and a scipy-free Spearman), for tests/python/model_pretrained_parity.py.
//
//   model_sts_tool <model_dir> <sts-dev.csv> [max_len]
// Prints {"pairs": N, "cls_before_pooler": rho*100, "avg": rho*100} on stdout.
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "data/sts_readers.h"
#include "data/token_batch.h"
#include "data/wordpiece_tokenizer.h"
#include "model/hf_checkpoint.h"

using namespace simcsepp;

namespace {

// Average ranks (ties share the mean rank), as scipy.stats.rankdata.
std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[order[k]] = (i + j) / 2.0 + 1;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const auto ra = ranks(a), rb = ranks(b);
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / ra.size();
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / rb.size();
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// [CLS] and mean-pooled embeddings of `sentences` from one encoder pass per batch.
std::pair<torch::Tensor, torch::Tensor> embed(model::SentenceEncoder& encoder,
                                              const data::WordPieceTokenizer& tokenizer,
                                              const std::vector<std::string>& sentences, int max_len) {
  std::vector<torch::Tensor> cls, avg;
  constexpr size_t kBatch = 64;
  for (size_t start = 0; start < sentences.size(); start += kBatch) {
    std::vector<std::vector<int32_t>> ids;
    size_t longest = 0;
    for (size_t i = start; i < std::min(sentences.size(), start + kBatch); ++i) {
      ids.push_back(tokenizer.encode(sentences[i], max_len));
      longest = std::max(longest, ids.back().size());
    }
    const auto batch = data::pad_batch(ids, static_cast<int64_t>(longest), tokenizer.pad_id());
    const auto input_ids = torch::tensor(batch.input_ids).view({batch.rows, batch.max_len});
    const auto mask = torch::tensor(batch.attention_mask).view({batch.rows, batch.max_len});
    const model::BertOutput output{encoder->last_hidden_state(input_ids, mask), {}};
    cls.push_back(model::pool_hidden_states(output, mask, model::Pooler::kClsBeforePooler));
    avg.push_back(model::pool_hidden_states(output, mask, model::Pooler::kAvg));
  }
  return {torch::cat(cls), torch::cat(avg)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: model_sts_tool <model_dir> <sts-dev.csv> [max_len]\n";
    return 2;
  }
  try {
    const std::string dir = argv[1];
    const int max_len = argc > 3 ? std::stoi(argv[3]) : 512;
    auto encoder = model::load_hf_model(dir);
    encoder->eval();
    const auto tokenizer = data::WordPieceTokenizer::from_vocab_file(dir + "/vocab.txt", /*lowercase=*/true);
    const auto pairs = data::read_stsbenchmark(argv[2]);
    torch::NoGradGuard no_grad;
    nlohmann::json result{{"pairs", pairs.size()}};
    const auto [cls_a, avg_a] = embed(encoder, tokenizer, pairs.first, max_len);
    const auto [cls_b, avg_b] = embed(encoder, tokenizer, pairs.second, max_len);
    for (const auto& [name, a, b] : {std::tuple{"cls_before_pooler", cls_a, cls_b}, std::tuple{"avg", avg_a, avg_b}}) {
      const auto cos = torch::cosine_similarity(a, b, 1).to(torch::kDouble).contiguous();
      const std::vector<double> scores(cos.data_ptr<double>(), cos.data_ptr<double>() + cos.numel());
      result[name] = 100.0 * spearman(scores, pairs.gold);
    }
    std::cout << result.dump() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
