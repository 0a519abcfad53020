// rtd_parts.cpp - see rtd_parts.h.
#include "trainer/rtd_parts.h"

#include "base/error.h"
#include "model/mlm_generator.h"
#include "model/rtd_discriminator.h"

namespace simcsepp::trainer {

// DiffCSE's generator (frozen) and discriminator (trained) on the run's device, with the masking
// rule of the run's vocabulary. Both must share the encoder's vocabulary: the generator reads and
// writes its token ids.
std::shared_ptr<RtdParts> make_rtd_parts(const TrainOptions& o, const data::WordPieceTokenizer& tokenizer,
                                         const model::BertConfig& bert, torch::Device device, int rank) {
  auto parts = std::make_shared<RtdParts>();
  parts->generator = model::load_mlm_generator(o.generator_dir);
  if (parts->generator->config().vocab_size != bert.vocab_size) {
    throw Error("the generator's vocabulary has " + std::to_string(parts->generator->config().vocab_size) +
                    " tokens, the encoder's " + std::to_string(bert.vocab_size),
                o.generator_dir, "use a generator trained with the encoder's vocabulary (the paper: distilbert-base-uncased "
                                 "for bert-base-uncased)");
  }
  if (tokenizer.mask_id() < 0) {
    throw Error("the vocabulary has no [MASK] token", o.model_dir, "DiffCSE masks tokens for the generator");
  }
  parts->generator->to(device);
  parts->discriminator =
      model::load_rtd_discriminator(o.discriminator_dir.empty() ? o.model_dir : o.discriminator_dir, o.seed);
  if (parts->discriminator->bert->config().hidden_size != bert.hidden_size) {
    throw Error("the discriminator's hidden size differs from the encoder's", o.discriminator_dir,
                "the sentence embedding conditions the discriminator's first position: use a BERT of the same width");
  }
  parts->discriminator->to(device);
  parts->masking.mask_id = tokenizer.mask_id();
  parts->masking.vocab_size = bert.vocab_size;
  parts->masking.special_ids = {tokenizer.pad_id(), tokenizer.unk_id(), tokenizer.cls_id(), tokenizer.sep_id(),
                                tokenizer.mask_id()};
  parts->seed = o.seed;
  parts->rank = rank;
  return parts;
}

}  // namespace simcsepp::trainer
