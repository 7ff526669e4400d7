#include "tokenizer_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/parallel.h"
#include "io/atomic_file.h"
#include "tokenizer/bpe.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/hf_json.h"
#include "train/data.h"

namespace nexus::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The first of `candidates` that is a regular file, else "".
std::string first_file(const std::vector<fs::path>& candidates) {
  std::error_code ec;
  for (const fs::path& p : candidates)
    if (!p.empty() && fs::is_regular_file(p, ec)) return p.string();
  return "";
}

// $NEXUS_DATA: a folder holding tinyshakespeare.txt and gpt2/, or the text file itself.
fs::path data_env() {
  const char* d = std::getenv("NEXUS_DATA");
  return d && *d ? fs::path(d) : fs::path();
}

// The English text: --text, else $NEXUS_DATA (the file, or tinyshakespeare.txt in it), else
// the copy `make demo` keeps in ~/.cache/nexus.
std::string resolve_text(const std::string& option) {
  if (!option.empty()) return option;
  const fs::path env = data_env();
  const char* home = std::getenv("HOME");
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const fs::path cache_dir = cache && *cache ? fs::path(cache) / "nexus" : fs::path(home ? home : "") / ".cache/nexus";
  const std::string found = first_file({env, env.empty() ? fs::path() : env / "tinyshakespeare.txt",
                                        cache_dir / "tinyshakespeare.txt"});
  if (found.empty())
    throw InvalidArgument("bench tokenizer needs an English text: pass --text FILE, or set NEXUS_DATA to a folder "
                          "holding tinyshakespeare.txt (`make demo` also caches it in " + cache_dir.string() + ")");
  return found;
}

// GPT-2's encoder.json + vocab.bpe: --gpt2, else $NEXUS_DATA/gpt2.
std::string resolve_gpt2(const std::string& option) {
  if (!option.empty()) return option;
  const fs::path env = data_env();
  if (!env.empty() && !first_file({env / "gpt2" / "vocab.bpe"}).empty()) return (env / "gpt2").string();
  throw InvalidArgument("bench tokenizer needs GPT-2's encoder.json and vocab.bpe: pass --gpt2 DIR, or set NEXUS_DATA "
                        "to a folder holding gpt2/");
}

// Median seconds of encoding `text` with `threads` threads, each run with cold caches.
double time_encode(const BpeTokenizer& tok, const std::string& text, int threads, int runs,
                   std::vector<int32_t>* ids) {
  std::vector<double> t;
  for (int r = 0; r < runs; ++r) {
#pragma omp parallel num_threads(threads)
    BpeTokenizer::clear_thread_cache();
    const Clock::time_point t0 = Clock::now();
    std::vector<int32_t> out = tok.encode_parallel(text, false, threads);
    t.push_back(seconds_since(t0));
    if (ids) *ids = std::move(out);
  }
  return median(t);
}

// tinyshakespeare repeated plus license and copyright texts from /usr/share, about `mb` MB.
std::string larger_corpus(const std::string& shakespeare, int mb, int& files) {
  std::string corpus;
  const size_t target = static_cast<size_t>(mb) << 20;
  std::vector<fs::path> paths;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/share/common-licenses", ec))
    if (e.is_regular_file(ec)) paths.push_back(e.path());
  for (const auto& e : fs::directory_iterator("/usr/share/doc", ec))
    if (fs::is_regular_file(e.path() / "copyright", ec)) paths.push_back(e.path() / "copyright");
  std::sort(paths.begin(), paths.end());
  files = 0;
  for (const fs::path& p : paths) {
    if (corpus.size() >= target / 2) break;
    try {
      corpus += read_file(p.string()) + "\n";
      ++files;
    } catch (const IoError&) {
    }
  }
  while (corpus.size() < target) corpus += shakespeare;
  corpus.resize(std::min(corpus.size(), target));
  return corpus;
}

struct TrainResult {
  double seconds;
  int64_t unique;
  std::unique_ptr<BpeTokenizer> tok;
};

TrainResult train(std::string_view text, int vocab, SplitPattern pattern) {
  BpeTrainOptions o;
  o.vocab_size = vocab;
  o.pattern = pattern;
  BpeTrainStats st;
  const Clock::time_point t0 = Clock::now();
  BpeData data = train_bpe({text}, o, &st);
  const double s = seconds_since(t0);
  return {s, st.unique_pretokens, std::make_unique<BpeTokenizer>(std::move(data), "bench")};
}

// Training time (2k on the tinyshakespeare training split, 8k/32k on a larger corpus) and
// validation bytes per token; results go into j.
void bench_training(const std::string& shakespeare, const TokenizerBenchOptions& o, nlohmann::json& j) {
  const size_t cut = text_split_point(shakespeare, 0.1);
  const std::string_view train_text = std::string_view(shakespeare).substr(0, cut);
  const std::string_view val_text = std::string_view(shakespeare).substr(cut);
  if (!o.json_only) std::printf("\ntraining on the text's training split (first %zu bytes):\n", cut);
  for (SplitPattern p : {SplitPattern::kGpt4o, SplitPattern::kGpt4, SplitPattern::kGpt2}) {
    TrainResult r = train(train_text, 2000, p);
    const double bpt = static_cast<double>(val_text.size()) / static_cast<double>(r.tok->encode(val_text).size());
    const std::string key = std::string("train_2k_") + split_pattern_name(p);
    if (!o.json_only)
      std::printf("  2,000 ids, %s pattern: %.3f s, %lld distinct pre-tokens, val %.3f bytes/token\n",
                  split_pattern_name(p), r.seconds, (long long)r.unique, bpt);
    j[key] = {{"seconds", r.seconds}, {"val_bytes_per_token", bpt}};
  }
  if (o.corpus_mb > 0) {
    int files = 0;
    const std::string corpus = larger_corpus(shakespeare, o.corpus_mb, files);
    if (!o.json_only)
      std::printf("\ntraining on a %.1f MB corpus (%d license/copyright files + the text repeated):\n",
                  corpus.size() / 1e6, files);
    for (int vocab : {8000, 32000}) {
      TrainResult r = train(corpus, vocab, kDefaultSplitPattern);
      if (!o.json_only)
        std::printf("  %6d ids: %.2f s (%lld distinct pre-tokens, %d ids reached)\n", vocab, r.seconds,
                    (long long)r.unique, r.tok->vocab_size());
      j["train_" + std::to_string(vocab / 1000) + "k"] = {{"seconds", r.seconds}, {"corpus_mb", corpus.size() / 1e6}};
    }
  }
}

}  // namespace

int run_tokenizer_bench(const TokenizerBenchOptions& o) {
  const std::string gpt2_dir = resolve_gpt2(o.gpt2_dir);
  const std::string text_file = resolve_text(o.text);
  const std::string shakespeare = read_file(text_file);
  const int max_threads = o.threads > 0 ? o.threads : available_cores();
  const auto gpt2 = load_gpt2_dir(gpt2_dir);
  std::string big;
  for (int i = 0; i < o.repeat; ++i) big += shakespeare;
  const double mb = static_cast<double>(big.size()) / 1e6;
  nlohmann::json j = {{"bench", "tokenizer"}, {"text_file", text_file}, {"gpt2_dir", gpt2_dir},
                      {"encode_text_mb", mb}, {"runs", o.runs}};
  if (!o.json_only) std::printf("text: %s (%.2f MB)\nGPT-2 files: %s\n\n", text_file.c_str(), shakespeare.size() / 1e6,
                                gpt2_dir.c_str());

  std::vector<int32_t> ref;
  const double t1 = time_encode(*gpt2, big, 1, o.runs, &ref);
  if (!o.json_only) {
    std::printf("GPT-2 vocab, encode %.1f MB (text x%d), cold cache, median of %d:\n", mb, o.repeat, o.runs);
    std::printf("  %-8s %10s %9s %8s\n", "threads", "MB/s", "speed-up", "same ids");
  }
  std::vector<int> counts;
  for (int t = 1; t < max_threads; t *= 2) counts.push_back(t);
  counts.push_back(max_threads);
  nlohmann::json scaling = nlohmann::json::array();
  for (int t : counts) {
    std::vector<int32_t> ids;
    const double s = t == 1 ? t1 : time_encode(*gpt2, big, t, o.runs, &ids);
    const bool same = t == 1 || ids == ref;
    if (!o.json_only) std::printf("  %-8d %10.1f %9.2f %8s\n", t, mb / s, t1 / s, same ? "yes" : "NO");
    scaling.push_back({{"threads", t}, {"mb_per_s", mb / s}, {"same_ids", same}});
  }
  j["encode_mb_per_s_1_thread"] = mb / t1;
  j["encode_scaling"] = scaling;
  j["gpt2_bytes_per_token"] = static_cast<double>(big.size()) / static_cast<double>(ref.size());

  bench_training(shakespeare, o, j);
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace nexus::bench
