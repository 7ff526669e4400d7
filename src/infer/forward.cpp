#include "infer/forward.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>

#include "core/error.h"
#include "core/half.h"
#include "core/kernels/attention.h"
#include "core/kernels/gelu.h"
#include "core/kernels/layernorm.h"
#include "infer/attention_decode.h"

namespace nexus {

using namespace kernels;


const char* kv_type_name(KvType type) { return type == KvType::F16 ? "f16" : "f32"; }

KvType parse_kv_type(const std::string& name) {
  if (name == "f32") return KvType::F32;
  if (name == "f16") return KvType::F16;
  throw InvalidArgument("unknown KV cache type '" + name + "' (f32 or f16)");
}

KVCache::KVCache(const GPTConfig& config, int capacity, KvType type)
    : T_(capacity), NH_(config.n_head), hs_(config.head_size()), type_(type) {
  require(capacity >= 1 && capacity <= config.block_size,
          "KV cache capacity " + std::to_string(capacity) + " must be in [1, block_size=" +
              std::to_string(config.block_size) + "]");
  data_.resize((kv_cache_bytes(config, capacity, type) + sizeof(float) - 1) / sizeof(float));
}

float* KVCache::f32() {
  require(type_ == KvType::F32, "this KV cache holds f16, not f32");
  return data_.data();
}

uint16_t* KVCache::f16() {
  require(type_ == KvType::F16, "this KV cache holds f32, not f16");
  return reinterpret_cast<uint16_t*>(data_.data());
}

void KVCache::copy_from(const KVCache& other) {
  require(other.T_ == T_ && other.NH_ == NH_ && other.hs_ == hs_ && other.type_ == type_ &&
              other.data_.size() == data_.size(),
          "KV caches differ in shape or type");
  std::memcpy(data_.data(), other.data_.data(), data_.bytes());
}

size_t kv_cache_bytes(const GPTConfig& config, int capacity, KvType type) {
  return (size_t)config.n_layer * 2 * capacity * config.n_embd * (type == KvType::F16 ? 2 : sizeof(float));
}

ForwardPass::ForwardPass(std::shared_ptr<const InferenceModel> model) : model_(std::move(model)) {
  require(model_ != nullptr, "ForwardPass needs a model");
}

size_t ForwardPass::workspace_bytes() const {
  size_t b = x_.bytes() + ln_.bytes() + mean_.bytes() + rstd_.bytes() + qkv_.bytes() + att_.bytes() + fc_.bytes() +
             lnf_.bytes() + logits_.bytes();
  for (const FloatBuffer& s : scratch_) b += s.bytes();
  return b;
}

void ForwardPass::validate(std::span<const ForwardChunk> chunks) const {
  const GPTConfig& c = model_->config();
  require(!chunks.empty(), "a forward pass needs at least one chunk of tokens");
  for (size_t i = 0; i < chunks.size(); i++) {
    const ForwardChunk& ch = chunks[i];
    const std::string where = "chunk " + std::to_string(i) + ": ";
    require(ch.cache != nullptr && ch.tokens != nullptr, where + "no cache or no tokens");
    require(ch.n >= 1, where + "has no tokens");
    require(ch.kind != RowKind::Decode || ch.n == 1, where + "a decode chunk holds exactly one token");
    require(ch.pos >= 0 && ch.pos + ch.n <= ch.cache->capacity(),
            where + "positions [" + std::to_string(ch.pos) + ", " + std::to_string(ch.pos + ch.n) +
                ") do not fit the KV cache of " + std::to_string(ch.cache->capacity()) + " positions");
    for (int t = 0; t < ch.n; t++)
      require(ch.tokens[t] >= 0 && ch.tokens[t] < c.vocab_size,
              where + "token " + std::to_string(ch.tokens[t]) + " is outside the vocabulary [0, " +
                  std::to_string(c.vocab_size) + ")");
  }
}

void ForwardPass::ensure_workspace(int rows, int logit_rows, int max_keys, bool f16_cache) {
  const GPTConfig& c = model_->config();
  const size_t R = rows, C = c.n_embd;
  auto grow = [](FloatBuffer& b, size_t n) {
    if (b.size() < n) b.resize(n);
  };
  grow(x_, R * C);
  grow(ln_, R * C);
  grow(mean_, R);
  grow(rstd_, R);
  grow(qkv_, R * 3 * C);
  grow(att_, R * C);
  grow(fc_, R * 4 * C);
  grow(lnf_, (size_t)logit_rows * C);
  grow(logits_, (size_t)logit_rows * c.vocab_size);
  // A prefill over an fp16 cache first widens the head's keys and values into scratch.
  const long need = attention_head_scratch_floats(max_keys, c.head_size()) +
                    (f16_cache ? 2L * max_keys * c.head_size() : 0);
  const size_t threads = omp_get_max_threads();
  if (scratch_.size() < threads) scratch_.resize(threads);
  for (FloatBuffer& s : scratch_) grow(s, need);
}

const float* ForwardPass::run(std::span<const ForwardChunk> chunks) {
  validate(chunks);
  // Rows: the chunks' tokens in chunk order.
  std::vector<int> row0(chunks.size());
  int rows = 0, logit_rows = 0, max_keys = 1;
  bool f16_cache = false;
  for (size_t i = 0; i < chunks.size(); i++) {
    row0[i] = rows;
    rows += chunks[i].n;
  }
  for (const ForwardChunk& ch : chunks) {
    logit_rows += ch.all_logits ? ch.n : ch.want_logits ? 1 : 0;
    max_keys = std::max(max_keys, ch.pos + ch.n);
    f16_cache |= ch.cache->type() == KvType::F16;
  }
  rows_ = rows, logit_rows_ = logit_rows;
  ensure_workspace(rows, std::max(1, logit_rows), max_keys, f16_cache);
  embed(chunks, row0);
  for (int l = 0; l < model_->config().n_layer; l++) layer(l, chunks, row0);
  logits(chunks, row0);
  return logits_.data();
}

void ForwardPass::embed(std::span<const ForwardChunk> chunks, const std::vector<int>& row0) {
  const int C = model_->config().n_embd;
  const float *wte = model_->wte(), *wpe = model_->wpe();
  for (size_t i = 0; i < chunks.size(); i++) {
    const ForwardChunk& ch = chunks[i];
    for (int t = 0; t < ch.n; t++) {
      float* x = x_.data() + (size_t)(row0[i] + t) * C;
      const float* te = wte + (size_t)ch.tokens[t] * C;
      const float* pe = wpe + (size_t)(ch.pos + t) * C;
#pragma omp simd
      for (int c = 0; c < C; c++) x[c] = te[c] + pe[c];
    }
  }
}

void ForwardPass::layer(int l, std::span<const ForwardChunk> chunks, const std::vector<int>& row0) {
  const int C = model_->config().n_embd, R = rows_;
  const LayerWeights& w = model_->layer(l);
  layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(), w.ln1w, w.ln1b, R, C);
  matmul(w.qkv, w.qkvb, ln_.data(), R, qkv_.data(), false);
  attention(l, chunks, row0);
  matmul(w.attproj, w.attprojb, att_.data(), R, x_.data(), true);  // x += attn(x)
  layernorm_forward(ln_.data(), mean_.data(), rstd_.data(), x_.data(), w.ln2w, w.ln2b, R, C);
  matmul(w.fc, w.fcb, ln_.data(), R, fc_.data(), false);
  gelu_forward(fc_.data(), fc_.data(), (long)R * 4 * C);
  matmul(w.fcproj, w.fcprojb, fc_.data(), R, x_.data(), true);  // x += mlp(x)
}

// Writes the pass's new keys and values (from qkv_) into the chunks' caches.
void ForwardPass::store_kv(int l, std::span<const ForwardChunk> chunks, const std::vector<int>& row0) {
  const GPTConfig& c = model_->config();
  const int C = c.n_embd, NH = c.n_head, hs = c.head_size();
  for (size_t i = 0; i < chunks.size(); i++) {
    const ForwardChunk& ch = chunks[i];
    for (int t = 0; t < ch.n; t++) {
      const float* row = qkv_.data() + (size_t)(row0[i] + t) * 3 * C;
      const size_t at = (size_t)(ch.pos + t) * hs;
      for (int h = 0; h < NH; h++) {
        if (ch.cache->type() == KvType::F16) {
          float_to_fp16_row(row + C + h * hs, ch.cache->keys_f16(l, h) + at, hs);
          float_to_fp16_row(row + 2 * C + h * hs, ch.cache->values_f16(l, h) + at, hs);
        } else {
          std::memcpy(ch.cache->keys(l, h) + at, row + C + h * hs, sizeof(float) * hs);
          std::memcpy(ch.cache->values(l, h) + at, row + 2 * C + h * hs, sizeof(float) * hs);
        }
      }
    }
  }
}

void ForwardPass::attention(int l, std::span<const ForwardChunk> chunks, const std::vector<int>& row0) {
  const GPTConfig& c = model_->config();
  const int C = c.n_embd, NH = c.n_head, hs = c.head_size();
  // New keys and values go into each cache first, so a chunk attends to them like to
  // the ones cached by earlier passes.
  store_kv(l, chunks, row0);
  const int items = (int)chunks.size() * NH;
  double work = 0;  // multiply-adds of QK^T and PV
  for (const ForwardChunk& ch : chunks) work += 2.0 * ch.n * (ch.pos + ch.n) * C;
  // Items (chunk, head) go to threads round-robin, so each thread knows its next item and a
  // decode item streams that item's cached keys and values towards L2 while it reads its own
  // (at 16 streams, waiting on each cold block's first lines cost more than reading it).
  // Tiny passes run on one thread: a fork/join would cost more than the work.
  auto next_of = [&](int it) {
    if (it >= items || chunks[it / NH].kind != RowKind::Decode) return DecodePrefetch{};
    const KVCache& cache = *chunks[it / NH].cache;
    const size_t bytes = ((size_t)chunks[it / NH].pos + 1) * hs * cache.element_bytes();
    return DecodePrefetch{cache.key_bytes(l, it % NH), cache.value_bytes(l, it % NH), bytes};
  };
  auto run_item = [&](int it, const DecodePrefetch& next) {
    const ForwardChunk& ch = chunks[it / NH];
    const int h = it % NH, r0 = row0[it / NH];
    float* scratch = scratch_[omp_get_thread_num()].data();
    float* y = att_.data() + (size_t)r0 * C + h * hs;
    const float* q = qkv_.data() + (size_t)r0 * 3 * C + h * hs;
    const int Tk = ch.pos + ch.n;
    if (ch.cache->type() == KvType::F16) {
      const uint16_t *K = ch.cache->keys_f16(l, h), *V = ch.cache->values_f16(l, h);
      if (ch.kind == RowKind::Decode) return attention_decode_head(y, q, K, hs, V, hs, Tk, hs, scratch, next);
      float *Kf = scratch, *Vf = scratch + (size_t)Tk * hs;  // widened (Tk, hs) blocks, then the kernel's scratch
      fp16_to_float_row(K, Kf, (int64_t)Tk * hs);
      fp16_to_float_row(V, Vf, (int64_t)Tk * hs);
      return attention_head_forward(y, C, nullptr, q, 3 * C, Kf, hs, Vf, hs, ch.n, Tk, hs, Vf + (size_t)Tk * hs);
    }
    const float *K = ch.cache->keys(l, h), *V = ch.cache->values(l, h);
    if (ch.kind == RowKind::Decode)  // one query: dot products against the cached rows
      attention_decode_head(y, q, K, hs, V, hs, Tk, hs, scratch, next);
    else
      attention_head_forward(y, C, nullptr, q, 3 * C, K, hs, V, hs, ch.n, Tk, hs, scratch);
  };
#pragma omp parallel if (items > 1 && work >= 1.0e5 && !omp_in_parallel())
  {
    const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
    for (int it = tid; it < items; it += nth) run_item(it, next_of(it + nth));
  }
}

void ForwardPass::logits(std::span<const ForwardChunk> chunks, const std::vector<int>& row0) {
  const int C = model_->config().n_embd;
  int j = 0;  // gather the rows that want logits into ln_ (free after the last layer)
  for (size_t i = 0; i < chunks.size(); i++) {
    const ForwardChunk& ch = chunks[i];
    const int first = ch.all_logits ? 0 : ch.want_logits ? ch.n - 1 : ch.n;
    for (int t = first; t < ch.n; t++, j++)
      std::memcpy(ln_.data() + (size_t)j * C, x_.data() + (size_t)(row0[i] + t) * C, sizeof(float) * C);
  }
  if (j == 0) return;
  layernorm_forward(lnf_.data(), mean_.data(), rstd_.data(), ln_.data(), model_->lnfw(), model_->lnfb(), j, C);
  matmul(model_->lm_head(), nullptr, lnf_.data(), j, logits_.data(), false);
}

}  // namespace nexus
