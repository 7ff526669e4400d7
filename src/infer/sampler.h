#pragma once
// The sampler chain: turns one row of logits (V) into the next token.
//
// Design (after llama.cpp's llama_sampler): a chain of small units with one interface,
// apply(candidates) and accept(token). Unlike llama.cpp, units hold only their parameters
// and are immutable, so one chain is shared by every sequence (and thread); everything that
// changes while a sequence is generated (its recent-token window with counts, and its Rng)
// lives in a SamplerState, one per sequence. A draw depends only on the logits, the state
// and the params, never on the batch size or thread count.
//
// Default order (SamplerChain::from_params; a unit whose parameter turns it off is left out):
//   1. logit bias          logit[id] += bias[id]
//   2. repetition penalty  CTRL style, for tokens seen in the window: logit > 0 ? logit / penalty
//                          : logit * penalty
//   3. presence/frequency  OpenAI: logit -= count * frequency + (count > 0) * presence
//   4. top-k               keep the k largest logits (0 = off)
//   5. top-p               keep the smallest most-likely set with cumulative probability >= p
//   6. min-p               keep tokens with p >= min_p * p_max
//   7. temperature         logit /= T; T = 0 keeps only the argmax (greedy)
//   8. draw                one seeded draw from softmax(logits) with the state's Rng
// Steps 2 and 3 count the last `repeat_last_n` tokens passed to accept() (-1 = the whole
// context, 0 = off). Callers accept() the prompt tokens too, as llama.cpp does, so penalties
// also see the prompt. Ties in logits always go to the lower token id.
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/rng.h"

namespace nexus {

/// Every sampling option. Fields are listed once, in visit(), for CLI flags and JSON.
struct SamplerParams {
  float temperature = 0.8f;        // 0 = greedy
  int top_k = 40;                  // 0 = off
  float top_p = 0.95f;             // 1 = off
  float min_p = 0.05f;             // 0 = off
  float repeat_penalty = 1.0f;     // 1 = off
  int repeat_last_n = 64;          // -1 = whole context, 0 = penalties off
  float presence_penalty = 0.0f;   // 0 = off
  float frequency_penalty = 0.0f;  // 0 = off
  uint64_t seed = 1337;
  std::map<int32_t, float> logit_bias;  // token id -> added logit (-inf bans the token)

  /// Calls v(name, field, help) for every field, in a fixed order. logit_bias is a map: CLI
  /// code binds it with parse_logit_bias() ("ID=BIAS") rather than a plain option.
  template <class V>
  void visit(V&& v) {
    v("temperature", temperature, "softmax temperature; 0 = greedy (argmax)");
    v("top_k", top_k, "keep the k most likely tokens; 0 = all");
    v("top_p", top_p, "nucleus sampling: keep the most likely tokens up to this cumulative probability; 1 = off");
    v("min_p", min_p, "drop tokens less likely than min_p times the most likely one; 0 = off");
    v("repeat_penalty", repeat_penalty, "CTRL-style penalty on tokens in the recent window; 1 = off");
    v("repeat_last_n", repeat_last_n, "window of recent tokens for the penalties; -1 = whole context, 0 = off");
    v("presence_penalty", presence_penalty, "subtracted once from tokens seen in the window (OpenAI)");
    v("frequency_penalty", frequency_penalty, "subtracted per occurrence in the window (OpenAI)");
    v("seed", seed, "random seed of the draw");
    v("logit_bias", logit_bias, "token id -> bias added to its logit (ID=BIAS; -inf bans)");
  }
  template <class V>
  void visit(V&& v) const {
    const_cast<SamplerParams*>(this)->visit(std::forward<V>(v));
  }

  /// Throws InvalidArgument naming the first bad field. vocab_size > 0 also checks that every
  /// logit-bias id is inside the vocabulary; pass 0 when it is not known yet.
  void validate(int vocab_size = 0) const;
};

/// JSON object with every field; logit_bias is an object {"id": bias} as in OpenAI's API.
nlohmann::json to_json(const SamplerParams& params);

/// Reads the fields present in `j` (others keep their defaults); FormatError for a field of
/// the wrong JSON type. Does not validate (the vocabulary size is not known here).
SamplerParams sampler_params_from_json(const nlohmann::json& j);

/// Parses "ID=BIAS" (BIAS may be "-inf") into (id, bias); InvalidArgument when malformed.
std::pair<int32_t, float> parse_logit_bias(std::string_view text);

/// One candidate token: its id, its current logit and (after softmax) its probability.
struct TokenLogit {
  int32_t id;
  float logit;
  float p;
};

/// The candidates a chain works on (llama.cpp's llama_token_data_array). Scratch space that
/// callers reuse between steps to avoid allocating V entries per token.
struct Candidates {
  std::vector<TokenLogit> items;
  bool sorted = false;    // items are by logit, highest first, ties by lower id
  // Each p is valid only right after softmax(); units that change logits do not update it.
  int32_t selected = -1;  // set by a draw unit

  /// Loads all V logits in id order (unsorted, nothing selected).
  void reset(std::span<const float> logits);
  /// Same items as reset(logits) then keep_top(k), without loading all V of them.
  void reset_top(std::span<const float> logits, size_t k);
  /// Sets every p to softmax(logit) over the current items; throws InvalidArgument when every
  /// logit is -inf (all tokens banned) or any is NaN.
  void softmax();
  /// Makes items[0..k) the k highest (sorted, ties by lower id) and drops the rest.
  void keep_top(size_t k);
};

/// Recent tokens of one sequence: a ring buffer of the last `capacity` accepted tokens and
/// the count of each id inside it, kept in step so penalties cost O(candidates).
class TokenWindow {
 public:
  /// A window of `capacity` tokens (0 = records nothing) over ids in [0, vocab_size).
  TokenWindow(int capacity, int vocab_size);
  /// Records `token` (InvalidArgument if outside the vocabulary), evicting the oldest if full.
  void push(int32_t token);
  /// Occurrences of `id` in the window (0 for an id outside the vocabulary).
  int32_t count(int32_t id) const;
  /// Tokens currently in the window.
  size_t size() const { return size_; }
  /// Forgets every token.
  void clear();

 private:
  std::vector<int32_t> ring_, counts_;
  size_t head_ = 0, size_ = 0;
};

/// Everything per sequence that a chain reads and updates. Copyable, so a sequence can be
/// forked or restored exactly.
struct SamplerState {
  TokenWindow window;
  Rng rng;

  /// State for a new sequence: window of repeat_last_n tokens (or context_size when it is -1),
  /// Rng seeded from params.seed.
  SamplerState(const SamplerParams& params, int vocab_size, int context_size);
};

/// One step of the chain. Implementations keep only parameters, so apply() is const and one
/// unit serves any number of sequences at once.
class SamplerUnit {
 public:
  virtual ~SamplerUnit() = default;
  /// Short name for logs and tests ("top-k", ...).
  virtual std::string name() const = 0;
  /// Filters or rescales `c` for one sequence.
  virtual void apply(Candidates& c, SamplerState& state) const = 0;
  /// Sees each token the sequence accepts (after the window recorded it). Default: nothing.
  virtual void accept(int32_t token, SamplerState& state) const {}
  /// k > 0 when apply() only keeps the k highest logits (top-k): a chain that starts with
  /// such a unit loads just those candidates (Candidates::reset_top).
  virtual size_t keeps_top() const { return 0; }
};

/// Adds fixed biases to chosen token ids (OpenAI's logit_bias; -inf bans a token).
std::unique_ptr<SamplerUnit> make_logit_bias(const std::map<int32_t, float>& bias);
/// CTRL repetition penalty over the window: positive logits / penalty, negative * penalty.
std::unique_ptr<SamplerUnit> make_repetition_penalty(float penalty);
/// OpenAI penalties over the window: logit -= count * frequency + (count > 0) * presence.
std::unique_ptr<SamplerUnit> make_presence_frequency_penalty(float presence, float frequency);
/// Keeps the k highest logits (k = 0 keeps all); leaves the candidates sorted.
std::unique_ptr<SamplerUnit> make_top_k(int k);
/// Nucleus: keeps the smallest highest-probability set whose probabilities sum to >= p (at
/// least one token). Costs O(V) without a full sort; what it keeps may be left unsorted.
std::unique_ptr<SamplerUnit> make_top_p(float p);
/// Keeps tokens whose probability is >= min_p times the highest probability.
std::unique_ptr<SamplerUnit> make_min_p(float min_p);
/// Divides logits by the temperature; 0 keeps only the argmax.
std::unique_ptr<SamplerUnit> make_temperature(float temperature);
/// Draws one candidate from softmax(logits) with the state's Rng and sets c.selected.
std::unique_ptr<SamplerUnit> make_draw();

/// An ordered list of units ending in a draw. Immutable once built; share it freely.
class SamplerChain {
 public:
  /// A chain of the given units (the last one must select a token, e.g. make_draw()).
  explicit SamplerChain(std::vector<std::unique_ptr<SamplerUnit>> units);
  /// The default chain (see the file comment) for validated `params` and vocabulary size.
  static SamplerChain from_params(const SamplerParams& params, int vocab_size);

  /// Picks the next token from `logits` (V) for one sequence; `scratch` is reused storage.
  /// Does not accept() the token: the caller does, once it keeps it.
  int32_t sample(std::span<const float> logits, SamplerState& state, Candidates& scratch) const;
  /// Records a token the sequence now contains (prompt or generated) in its state.
  void accept(int32_t token, SamplerState& state) const;
  /// Unit names in order, e.g. {"top-k", "temperature", "draw"}.
  std::vector<std::string> names() const;

 private:
  std::vector<std::unique_ptr<SamplerUnit>> units_;
};

}  // namespace nexus
