#pragma once
// GPT-2 models as GGUF files, in the layout llama.cpp's "gpt2" architecture loads
// (src/models/gpt2.cpp and src/llama-vocab.cpp of llama.cpp; names from gguf-py/constants.py).
//
// Metadata written by export_gguf (integers are UINT32, as llama.cpp requires):
//   general.architecture "gpt2", general.name, general.file_type (0 F32, 1 F16, 32 BF16,
//   7 Q8_0), general.quantization_version 2 (q8_0 only), general.alignment 32;
//   gpt2.context_length (block_size), gpt2.embedding_length (C), gpt2.feed_forward_length (4C),
//   gpt2.block_count, gpt2.attention.head_count, gpt2.attention.layer_norm_epsilon (FLOAT32
//   1e-5, kernels::kLayerNormEps);
//   tokenizer.ggml.model "gpt2", tokenizer.ggml.pre ("gpt-2", "llama-bpe" for a BPE with
//   Nexus's gpt4 split pattern, "gpt-4o" for gpt4o), tokenizer.ggml.tokens, tokenizer.ggml.token_type (INT32),
//   tokenizer.ggml.merges, tokenizer.ggml.add_bos_token false, and bos/eos_token_id when
//   there is an end-of-text token (see GgufVocab);
//   nexus.config (the GPTConfig as JSON text), nexus.bias (BOOL), nexus.tokenizer (the
//   tokenizer's own saved form, Tokenizer::serialize): what makes a Nexus round trip exact.
// Tensors (ggml dims, fastest first; a Nexus (rows, cols) matrix has dims {cols, rows}):
//   token_embd.weight {C, V}, position_embd.weight {C, T}, output_norm.{weight,bias} {C},
//   output.weight {C, V} (the tied head, written explicitly), and per block N:
//   blk.N.attn_norm.{weight,bias} {C}, blk.N.attn_qkv.weight {C, 3C} + bias {3C},
//   blk.N.attn_output.weight {C, C} + bias {C}, blk.N.ffn_norm.{weight,bias} {C},
//   blk.N.ffn_up.weight {C, 4C} + bias {4C}, blk.N.ffn_down.weight {4C, C} + bias {C}.
//   The matrices (attn_qkv, attn_output, ffn_up and ffn_down of each block, and output) are
//   in the export type; everything else is F32. llama.cpp's gpt2 needs every bias: a
//   bias=false model gets zero biases and nexus.bias = false, and Nexus drops them on import.
//
// Import (InferenceModel::load of a .gguf) reads these files and GPT-2 files converted by
// llama.cpp: the config comes from the gpt2.* keys and the tensor dims (nexus.config, when
// present, must agree), the tokenizer from nexus.tokenizer or else from tokenizer.ggml.*.
// Anything else (another architecture, a missing or misshapen tensor, an MLP width other than
// 4C, another LayerNorm epsilon, a vocabulary that does not fit the model) is a FormatError
// naming the file. F32 tensors are read in place from the map; F16 ones (and any non-F32
// embedding, norm or bias) are widened exactly to f32; BF16 and Q8_0 matrices become a
// Bf16Matrix / Q8Matrix without changing a bit (see LoadOptions::weights for other requests).
//
// Checked against a real llama.cpp (node-llama-cpp 3.22.1's prebuilt build) by
// tools/llamacpp/check_gguf.sh: it loads f32, f16 and q8_0 files with char, byte, BPE and
// GPT-2 vocabularies, scores text like Nexus (1e-5) and tokenizes English text and the golden
// cases identically, except 9 of 548 random-Unicode cases with the gpt4o pattern (a
// contraction after a combining mark, as predicted below). What llama.cpp cannot reproduce
// exactly (from reading its source; only the gpt4o case seen):
//   - char tokenizers: text with a character outside the vocabulary (Nexus refuses it;
//     llama.cpp's byte fallback finds no byte token and fails too);
//   - byte tokenizers: text that is not valid UTF-8 (llama.cpp decodes the text as UTF-8
//     before splitting it);
//   - gpt4-pattern BPE ("llama-bpe"): llama.cpp takes a pre-token that is itself a token
//     whole (ignore_merges) where Nexus applies the merges (the same ids unless merging a
//     token's own bytes does not rebuild it), and its contraction rule does not fold U+017F
//     'ſ' to 's' as (?i) does;
//   - gpt4o-pattern BPE ("gpt-4o"): llama.cpp rewrites o200k's two letter sets as "any letter
//     but a-z" and "any letter but A-Z" and spells the contractions without (?i), so
//     non-ASCII case changes (e.g. "ÉCOLE", "ǅ", Lm/Lo letters next to capitals), combining
//     marks and 'ſ' after an apostrophe can split differently (it merges like Nexus: no
//     ignore_merges);
//   - characters whose Unicode class (letter, number, space) differs between llama.cpp's
//     tables and Nexus's (tokenizer/unicode_ranges.inc) split differently;
//   - a vocabulary without <|endoftext|> and without spare ids has no end-of-text token:
//     no eos id is written and llama.cpp falls back to id 11 (use --ignore-eos there).
// And back: a char vocabulary's merge chains go through symbols that are not tokens, which
// Nexus's BPE cannot hold, so such a file stripped of nexus.tokenizer has no usable tokenizer.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infer/model.h"

namespace nexus {

class GgufFile;
class Tokenizer;

/// Storage of the matrices in an exported file.
enum class GgufExportType { F32, F16, BF16, Q8_0 };

/// Parses "f32", "f16", "bf16" or "q8_0" ("q8" too); InvalidArgument otherwise.
GgufExportType parse_gguf_export_type(const std::string& name);
/// "f32", "f16", "bf16" or "q8_0".
const char* to_string(GgufExportType type);
/// The weight type to load a model with so that export_gguf writes its matrices as they are
/// held (F16 is rounded from f32 at export).
WeightType export_load_type(GgufExportType type);

/// What export_gguf wrote.
struct GgufExportStats {
  size_t tensors = 0;   ///< tensors in the file
  uint64_t bytes = 0;   ///< file size
};

/// Writes `model` (and its tokenizer, which it must have) to `path` atomically, in the layout
/// above, with its matrices as `type`: bf16 and q8_0 matrices are the bits of the model's own
/// Bf16Matrix / Q8Matrix (converted with their from_f32 rule when the model holds another
/// type), so loading the file gives bit-identical weights. InvalidArgument for a model without
/// a tokenizer, q8_0 with n_embd % 32 != 0, or a vocabulary llama.cpp cannot hold.
GgufExportStats export_gguf(const InferenceModel& model, GgufExportType type, const std::string& path,
                            const std::string& name);

/// llama.cpp's name of a tensor given its nanoGPT name ("transformer.h.3.mlp.c_fc.weight" ->
/// "blk.3.ffn_up.weight"; "lm_head.weight" -> "output.weight"); InvalidArgument if unknown.
std::string gguf_tensor_name(const std::string& nanogpt_name);

/// The model shape a GGUF file describes (see the file comment); FormatError naming the file.
GPTConfig gguf_config(const GgufFile& file);

/// Checks the file's tensor table against `config` (check_weights_file in model/model_io.h:
/// every tensor present with its ggml dims, nothing else), before anything sized by the config
/// is allocated. The file holds every bias even for a bias=false model (llama.cpp needs them).
void check_gguf_tensors(const GgufFile& file, const GPTConfig& config);

/// Storage type of a file's matrices as loaded by default: that of blk.0.attn_qkv.weight (F16
/// and F32 -> F32); FormatError if the tensor is missing.
WeightType gguf_stored_weight_type(const GgufFile& file);

/// A tokenizer's vocabulary as llama.cpp's BPE reads it (GPT-2 byte-level spellings).
struct GgufVocab {
  std::vector<std::string> tokens;   ///< one per model id
  std::vector<int32_t> token_type;   ///< 1 normal, 3 control, 4 user-defined, 5 unused (padding)
  std::vector<std::string> merges;   ///< "left right", by rank
  std::string pre;                   ///< tokenizer.ggml.pre
  std::optional<uint32_t> eos;       ///< end-of-text id, also written as the bos id
};

/// The vocabulary of `tok` for a model of `vocab_size` ids: byte tokens are the 256 byte-level
/// characters; char tokens the byte-level spelling of each character's UTF-8, with merge chains
/// building multi-byte characters from their bytes; BPE tokens and merges as they are; added
/// tokens as control (special) or user-defined tokens; ids past the tokenizer "[PAD<id>]"
/// unused tokens. eos: <|endoftext|> if the tokenizer has it, else the first padding id.
/// InvalidArgument if two ids would get the same string (llama.cpp requires distinct tokens).
GgufVocab gguf_vocab(const Tokenizer& tok, int vocab_size);

/// The tokenizer stored in a GGUF file: nexus.tokenizer when present, else one built from
/// tokenizer.ggml.* (model "gpt2", pre "gpt-2" or "llama-bpe"), or null when the file has no
/// tokenizer keys. FormatError naming the file when it is malformed or holds more ids than
/// the model's `vocab_size`.
std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& file, int vocab_size);

}  // namespace nexus
