// libFuzzer: arbitrary bytes through the pre-tokenizers and the encoder (GPT-2's vocabulary
// when $NEXUS_SHARED_DATA/gpt2 exists, else a small BPE trained on the README). Checks:
// pre-tokens concatenate to the input, decode(encode(x)) == x with and without special
// tokens, streaming decode gives the same bytes, and a chunked parallel encode of the
// input repeated gives the same ids as one thread.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "fuzz_check.h"
#include "io/atomic_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/hf_json.h"
#include "tokenizer/pretokenize.h"

namespace {

const nexus::BpeTokenizer& tokenizer() {
  static std::unique_ptr<nexus::BpeTokenizer> tok = [] {
    const char* shared = std::getenv("NEXUS_SHARED_DATA");
    const std::filesystem::path gpt2 = std::filesystem::path(shared ? shared : "") / "gpt2";
    if (shared && std::filesystem::exists(gpt2 / "vocab.bpe")) return nexus::load_gpt2_dir(gpt2.string());
    const std::string text = nexus::read_file(std::string(NEXUS_SOURCE_DIR) + "/README.md");
    nexus::BpeTrainOptions o;
    o.vocab_size = 1000;
    o.special_tokens = {"<|endoftext|>"};
    return std::make_unique<nexus::BpeTokenizer>(nexus::train_bpe({text}, o), "fuzz");
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using nexus::fuzz::check;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (nexus::SplitPattern p : nexus::kSplitPatterns) {
    std::string joined;
    for (std::string_view piece : nexus::pretokenize(text, p)) {
      check(!piece.empty());
      joined += piece;
    }
    check(joined == text);
  }
  const nexus::BpeTokenizer& tok = tokenizer();
  nexus::fuzz::check_round_trip(tok, text);
  check(tok.decode(tok.encode(text, true)) == text);
  const std::string repeated = std::string(text) + "x\nY" + std::string(text) + "x\nY" + std::string(text);
  check(tok.encode_parallel(repeated, false, 3) == tok.encode_parallel(repeated, false, 1));
  return 0;
}
