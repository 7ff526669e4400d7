// libFuzzer: arbitrary bytes as a GGUF model file, loaded the way `nexus generate --model
// x.gguf` loads it (InferenceModel::load: config, tensor reads, f32/f16/bf16/q8_0 -> engine
// weights, tokenizer), then again as each other weight type and without mmap (the other
// conversions and the copying path). Loading either succeeds or throws FormatError; a file
// that loads must load as every type (q8 may refuse with InvalidArgument), run a forward pass,
// and have a tokenizer that fits the model and round-trips its own vocabulary.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "core/parallel.h"
#include "fuzz_check.h"
#include "fuzz_file.h"
#include "infer/forward.h"
#include "infer/model.h"

namespace {

using nexus::fuzz::check;

// Logits of the first and the last token id at positions 0 and 1 (as far as the context allows).
void check_forward(const std::shared_ptr<const nexus::InferenceModel>& m) {
  const nexus::GPTConfig& c = m->config();
  const std::vector<int32_t> tokens = {0, c.vocab_size - 1};
  const int n = std::min<int>(2, c.block_size);
  nexus::ForwardPass pass(m);
  nexus::KVCache cache(c, n);
  const nexus::ForwardChunk chunk{&cache, 0, tokens.data(), n, nexus::RowKind::Prefill, false, true};
  check(pass.run({&chunk, 1}) != nullptr);
}

// The model at `path` with default options, or null when the file is rejected (FormatError).
std::shared_ptr<const nexus::InferenceModel> load(const std::string& path) {
  try {
    return nexus::InferenceModel::load(path);
  } catch (const nexus::FormatError&) {
    return nullptr;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  nexus::set_num_threads(1);  // one input at a time; threads only add noise to coverage
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nexus::fuzz::input_file(data, size);
  const auto m = load(path);
  if (!m) return 0;
  check_forward(m);
  if (const nexus::Tokenizer* tok = m->tokenizer()) {
    check(tok->vocab_size() <= m->config().vocab_size);
    nexus::fuzz::check_round_trip(*tok, nexus::fuzz::vocabulary_text(*tok));
  }
  // A file that loads must load as every weight type; only q8 may refuse (InvalidArgument:
  // n_embd not a multiple of 32, or weights 8-bit blocks cannot hold, such as NaN).
  for (nexus::WeightType t : {nexus::WeightType::F32, nexus::WeightType::BF16, nexus::WeightType::Q8}) {
    std::shared_ptr<const nexus::InferenceModel> again;
    try {
      again = nexus::InferenceModel::load(path, {.mmap = t != nexus::WeightType::F32, .weights = t});
    } catch (const nexus::InvalidArgument&) {
      if (t != nexus::WeightType::Q8) throw;
      continue;
    }
    check(again->weight_type() == t && again->config().vocab_size == m->config().vocab_size);
    check_forward(again);
  }
  return 0;
}
