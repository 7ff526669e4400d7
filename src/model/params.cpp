#include "model/params.h"

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
}  // namespace

ParameterLayout::ParameterLayout(const GPTConfig& config) : config_(config) {
  config.validate();
  size_t offset = 0;
  for (int k = 0; k < kNumKinds; k++) {
    const Kind& kind = kKinds[k];
    const bool present = config.bias || !kind.is_bias;
    auto shape = slice_shape(k, config);
    const size_t slice = present ? product(shape) : 0;
    const int layers = kind.stacked ? config.n_layer : 1;
    blocks_.push_back({offset, slice * layers, kind.decay});
    if (present) {
      ranges_.push_back({offset, slice * layers, kind.decay});
      for (int l = 0; l < layers; l++) {
        std::string name = kind.stacked ? "transformer.h." + std::to_string(l) + "." + torch_suffix(k) : torch_suffix(k);
        named_.push_back({name, shape, offset + slice * l, slice});
      }
    }
    offset += slice * layers;
  }
  total_ = offset;
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
