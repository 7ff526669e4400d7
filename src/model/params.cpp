#include "model/params.h"

#include <algorithm>

#include "core/error.h"

namespace nexus {

namespace {
// Stacked tensor kinds in buffer order. `per_layer_shape` is the shape of one layer's slice.
struct Kind {
  const char* field;
  bool is_bias;   // absent when config.bias == false
  bool decay;     // 2-D weights are decayed
  bool stacked;   // one slice per layer
};
constexpr Kind kKinds[] = {
    {"wte", false, true, false},     {"wpe", false, true, false},      {"ln1w", false, false, true},
    {"ln1b", true, false, true},     {"qkvw", false, true, true},      {"qkvb", true, false, true},
    {"attprojw", false, true, true}, {"attprojb", true, false, true},  {"ln2w", false, false, true},
    {"ln2b", true, false, true},     {"fcw", false, true, true},       {"fcb", true, false, true},
    {"fcprojw", false, true, true},  {"fcprojb", true, false, true},   {"lnfw", false, false, false},
    {"lnfb", true, false, false},
};
constexpr int kNumKinds = sizeof(kKinds) / sizeof(kKinds[0]);

// Shape of one slice of kind k and its nanoGPT name suffix.
std::vector<int64_t> slice_shape(int k, const GPTConfig& c) {
  const int64_t C = c.n_embd;
  switch (k) {
    case 0: return {c.vocab_size, C};
    case 1: return {c.block_size, C};
    case 4: return {3 * C, C};
    case 5: return {3 * C};
    case 6: return {C, C};
    case 10: return {4 * C, C};
    case 11: return {4 * C};
    case 12: return {C, 4 * C};
    default: return {C};
  }
}

const char* torch_suffix(int k) {
  static const char* names[] = {"transformer.wte.weight", "transformer.wpe.weight", "ln_1.weight", "ln_1.bias",
                                "attn.c_attn.weight",     "attn.c_attn.bias",       "attn.c_proj.weight",
                                "attn.c_proj.bias",       "ln_2.weight",            "ln_2.bias",
                                "mlp.c_fc.weight",        "mlp.c_fc.bias",          "mlp.c_proj.weight",
                                "mlp.c_proj.bias",        "transformer.ln_f.weight", "transformer.ln_f.bias"};
  return names[k];
}

size_t product(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (auto d : shape) n *= (size_t)d;
  return n;
}

// Where the tensors of kind k live: `layers` slices of `slice` floats from `offset` (slice 0
// when the kind is absent, a bias of a bias=false model).
struct KindBlock {
  size_t offset = 0, slice = 0;
  int layers = 1;
};

// The blocks of every kind in buffer order; parameter_count guards the arithmetic.
std::vector<KindBlock> kind_blocks(const GPTConfig& config) {
  parameter_count(config);
  std::vector<KindBlock> blocks(kNumKinds);
  size_t offset = 0;
  for (int k = 0; k < kNumKinds; k++) {
    const bool present = config.bias || !kKinds[k].is_bias;
    blocks[k] = {offset, present ? product(slice_shape(k, config)) : 0, kKinds[k].stacked ? config.n_layer : 1};
    offset += blocks[k].slice * blocks[k].layers;
  }
  return blocks;
}
}  // namespace

uint64_t parameter_count(const GPTConfig& config) {
  unsigned __int128 total = 0;
  for (int k = 0; k < kNumKinds; k++) {
    if (!config.bias && kKinds[k].is_bias) continue;
    unsigned __int128 n = kKinds[k].stacked ? (uint64_t)std::max(config.n_layer, 0) : 1;
    for (int64_t d : slice_shape(k, config)) n *= (uint64_t)std::max<int64_t>(d, 0);
    total += n;  // each factor is below 2^34, so no term overflows 128 bits
  }
  if (total > ((unsigned __int128)1 << 62))
    throw InvalidArgument("the model config describes more than 2^62 parameters (n_layer=" +
                          std::to_string(config.n_layer) + ", n_embd=" + std::to_string(config.n_embd) + ")");
  return (uint64_t)total;
}

uint64_t tensor_count(const GPTConfig& config) {
  uint64_t n = 0;
  for (int k = 0; k < kNumKinds; k++)
    if (config.bias || !kKinds[k].is_bias) n += kKinds[k].stacked ? (uint64_t)std::max(config.n_layer, 0) : 1;
  return n;
}

void visit_named_tensors(const GPTConfig& config, const std::function<bool(const NamedTensor&)>& f) {
  const std::vector<KindBlock> blocks = kind_blocks(config);
  for (int k = 0; k < kNumKinds; k++) {
    if (!config.bias && kKinds[k].is_bias) continue;
    for (int l = 0; l < blocks[k].layers; l++) {
      std::string name =
          kKinds[k].stacked ? "transformer.h." + std::to_string(l) + "." + torch_suffix(k) : torch_suffix(k);
      if (!f({std::move(name), slice_shape(k, config), blocks[k].offset + blocks[k].slice * l, blocks[k].slice}))
        return;
    }
  }
}

ParameterLayout::ParameterLayout(const GPTConfig& config) : config_(config) {
  config.validate();
  for (const KindBlock& b : kind_blocks(config)) {
    total_ = b.offset + b.slice * b.layers;  // the end of the last kind is the buffer size
    blocks_.push_back({b.offset, b.slice * b.layers, kKinds[blocks_.size()].decay});
    if (b.slice) ranges_.push_back({b.offset, b.slice * b.layers, blocks_.back().decay});
  }
  visit_named_tensors(config, [&](const NamedTensor& t) {
    named_.push_back(t);
    return true;
  });
}

GPTWeights ParameterLayout::bind(float* base) const {
  float* p[kNumKinds];
  for (int k = 0; k < kNumKinds; k++) p[k] = blocks_[k].count ? base + blocks_[k].offset : nullptr;
  GPTWeights w;
  w.wte = p[0], w.wpe = p[1], w.ln1w = p[2], w.ln1b = p[3], w.qkvw = p[4], w.qkvb = p[5];
  w.attprojw = p[6], w.attprojb = p[7], w.ln2w = p[8], w.ln2b = p[9], w.fcw = p[10], w.fcb = p[11];
  w.fcprojw = p[12], w.fcprojb = p[13], w.lnfw = p[14], w.lnfb = p[15];
  return w;
}

}  // namespace nexus
