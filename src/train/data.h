#pragma once
// Token datasets on disk, prepared like nanoGPT's data/*/prepare.py.
//
// A dataset directory holds:
//   train.bin, val.bin  raw token ids, little-endian uint16 when vocab_size <= 65536,
//                       else uint32 (no header); the first (1 - val_fraction) of the
//                       encoded corpus goes to train.bin, the rest to val.bin
//   tokenizer.json      the tokenizer (see tokenizer/tokenizer.h)
//   meta.json           {"version": 1, "vocab_size": 65, "dtype": "uint16",
//                        "train_tokens": 1003854, "val_tokens": 111540, "tokenizer": "char",
//                        "train_bytes": 1003854, "val_bytes": 111540}
// meta.json is written last, so its presence means the other files are complete.
// train_bytes/val_bytes (text bytes behind each split, for bytes per token and bits per
// byte) are optional when reading (0 = unknown).
//
// Splits: with "char" and "byte" the encoded corpus is cut by token count. With a BPE
// ("bpe:N" trains one, a path loads one) the *text* is cut first, at the first line start at
// or after (1 - val_fraction) of its bytes (text_split_point), the tokenizer is trained on
// the training text only, and each part is encoded on its own: the tokenizer never sees
// validation text.
#include <cstdint>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include "core/rng.h"
#include "io/mmap.h"

namespace nexus {

/// Fewest tokens prepare_dataset accepts in each of the train and val splits.
inline constexpr int64_t kMinSplitTokens = 256;

/// Contents of meta.json.
struct DatasetMeta {
  int vocab_size = 0;         ///< number of token ids
  std::string dtype;          ///< "uint16" or "uint32": element type of the .bin files
  int64_t train_tokens = 0;   ///< tokens in train.bin
  int64_t val_tokens = 0;     ///< tokens in val.bin
  std::string tokenizer;      ///< tokenizer spec used ("char", "byte", "bpe:2000", or a path)
  int64_t train_bytes = 0;    ///< text bytes behind train.bin (0 = unknown)
  int64_t val_bytes = 0;      ///< text bytes behind val.bin (0 = unknown)
};

/// Where prepare_dataset cuts a text for a BPE tokenizer: the first line start (a byte
/// after '\n') at or after floor(size * (1 - val_fraction)); if there is none, that offset
/// moved forward to a UTF-8 character boundary.
size_t text_split_point(std::string_view text, double val_fraction);

/// The .bin element type that holds ids below vocab_size ("uint16" if <= 65536, else "uint32").
std::string token_dtype_for_vocab(int64_t vocab_size);

/// Reads and validates DIR/meta.json. IoError "no meta.json in DIR: run `nexus prepare`
/// first" if absent; FormatError naming the file if malformed.
DatasetMeta load_dataset_meta(const std::string& dir);

/// Writes DIR/meta.json atomically.
void save_dataset_meta(const std::string& dir, const DatasetMeta& meta);

/// Writes token ids as raw little-endian `dtype` ("uint16"/"uint32") atomically.
/// InvalidArgument if a token is negative or does not fit the dtype.
void write_token_file(const std::string& path, std::span<const int32_t> tokens, const std::string& dtype);

/// Tokenizes a text file into out_dir (layout and splits at the top of this header).
/// tokenizer_spec: "char" (vocabulary from the whole text), "byte", "bpe:N[:gpt2|gpt4|gpt4o]"
/// (trained on the training text), or the path of a tokenizer file or directory
/// (load_tokenizer). IoError if the input is unreadable; InvalidArgument if it is empty, too
/// short to give kMinSplitTokens to each split, val_fraction is not in (0, 1), or the spec
/// is neither known nor an existing path.
DatasetMeta prepare_dataset(const std::string& input_text_path, const std::string& out_dir,
                            const std::string& tokenizer_spec, double val_fraction = 0.1);

/// A memory-mapped .bin file of token ids.
class TokenFile {
 public:
  /// Maps `path` holding `dtype` elements. IoError if missing; FormatError if its size is
  /// not a multiple of the element size; InvalidArgument for an unknown dtype.
  TokenFile(const std::string& path, const std::string& dtype);
  /// Number of tokens.
  int64_t size() const { return count_; }
  /// Token i; InvalidArgument if i is outside [0, size()).
  int32_t at(int64_t i) const;
  /// Token i without bounds checking.
  int32_t operator[](int64_t i) const {
    const uint8_t* p = map_.data() + i * elem_size_;
    return elem_size_ == 2 ? static_cast<int32_t>(p[0] | (p[1] << 8))
                           : static_cast<int32_t>(p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24));
  }
  /// Path of the file.
  const std::string& path() const { return map_.path(); }
  /// Element type ("uint16"/"uint32").
  const std::string& dtype() const { return dtype_; }

 private:
  MappedFile map_;
  std::string dtype_;
  int64_t elem_size_ = 2;
  int64_t count_ = 0;
};

/// Opens DIR/<split>.bin (split "train" or "val") and checks its token count against meta.
TokenFile open_split(const std::string& dir, const DatasetMeta& meta, const std::string& split);

/// Random-offset batches like nanoGPT's get_batch: x[b] = tokens[o_b, o_b + T),
/// y[b] = tokens[o_b + 1, o_b + T + 1), offsets o_b uniform in [0, size - T - 1].
class BatchSampler {
 public:
  /// Validates that the file holds at least block+1 tokens (InvalidArgument otherwise) and
  /// that every token is < vocab_size (FormatError naming the file, position and value).
  /// The sampler keeps a pointer to `file`, which must outlive it.
  BatchSampler(const TokenFile& file, int batch, int block, int vocab_size);
  /// Fills x and y (each batch*block ids, row-major [batch, block]) with one batch, drawing
  /// `batch` offsets from rng in order. If offsets is non-null it receives them.
  void sample(Rng& rng, std::span<int32_t> x, std::span<int32_t> y, std::vector<int64_t>* offsets = nullptr) const;
  /// Convenience form resizing x and y to batch*block.
  void sample(Rng& rng, std::vector<int32_t>& x, std::vector<int32_t>& y) const;
  /// Batch size B.
  int batch() const { return batch_; }
  /// Block size T.
  int block() const { return block_; }

 private:
  const TokenFile* file_;
  int batch_;
  int block_;
  int vocab_size_;
};

}  // namespace nexus
