#pragma once
// `nexus bench tokenizer`: byte-level BPE speed and compression.
//   * encode MB/s on one thread with GPT-2's vocabulary on English text (tinyshakespeare
//     repeated), cold pre-token cache, median of the runs;
//   * multi-threaded encode of the same text at 1, 2, 4, ... threads (ids checked equal);
//   * training time of a 2,000-id BPE on the tinyshakespeare training split (first 90%)
//     and its bytes per token on the validation split;
//   * training time of 8k and 32k vocabularies on a larger corpus assembled from
//     tinyshakespeare and the text files under /usr/share/common-licenses and
//     /usr/share/doc/*/copyright.
#include <string>

namespace nexus::bench {

struct TokenizerBenchOptions {
  std::string gpt2_dir;         // encoder.json + vocab.bpe (default $NEXUS_DATA/gpt2)
  std::string text;             // English text (default $NEXUS_DATA[/tinyshakespeare.txt], then ~/.cache/nexus)
  int repeat = 8;               // encode the text repeated this many times
  int runs = 3;                 // timed runs per measurement (median)
  int threads = 0;              // most threads for the scaling table (0 = all)
  int corpus_mb = 16;           // size of the larger training corpus; 0 skips the 8k/32k runs
  bool json_only = false;
};

/// Prints a table (unless json_only) and one JSON line {"bench":"tokenizer",...}. Returns 0.
int run_tokenizer_bench(const TokenizerBenchOptions& options);

}  // namespace nexus::bench
