#include "train/data.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_input.h"
#include "tokenizer/tokenizer.h"

namespace nexus {
namespace {

using json = nlohmann::json;

std::string join_path(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

int64_t element_size(const std::string& dtype) {
  if (dtype == "uint16") return 2;
  if (dtype == "uint32") return 4;
  throw InvalidArgument("unknown token dtype '" + dtype + "' (expected uint16 or uint32)");
}

// A required field of meta.json as T (io/json_input.h's checks).
template <class T>
T get_field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw FormatError(where + ": missing field '" + key + "'");
  return json_value<T>(j.at(key), where + ": field '" + key + "'");
}

DatasetMeta meta_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw FormatError(where + ": not a JSON object");
  if (get_field<int64_t>(j, "version", where) != 1) throw FormatError(where + ": unsupported version (expected 1)");
  DatasetMeta meta;
  const int64_t vocab = get_field<int64_t>(j, "vocab_size", where);
  if (vocab < 1 || vocab > INT32_MAX) throw FormatError(where + ": vocab_size " + std::to_string(vocab) + " is invalid");
  meta.vocab_size = static_cast<int>(vocab);
  meta.dtype = get_field<std::string>(j, "dtype", where);
  if (meta.dtype != "uint16" && meta.dtype != "uint32")
    throw FormatError(where + ": dtype '" + meta.dtype + "' is not uint16 or uint32");
  if (meta.dtype == "uint16" && vocab > 65536)
    throw FormatError(where + ": dtype uint16 cannot hold vocab_size " + std::to_string(vocab));
  meta.train_tokens = get_field<int64_t>(j, "train_tokens", where);
  meta.val_tokens = get_field<int64_t>(j, "val_tokens", where);
  if (meta.train_tokens < 0 || meta.val_tokens < 0) throw FormatError(where + ": negative token count");
  meta.tokenizer = get_field<std::string>(j, "tokenizer", where);
  if (j.contains("train_bytes")) meta.train_bytes = get_field<int64_t>(j, "train_bytes", where);
  if (j.contains("val_bytes")) meta.val_bytes = get_field<int64_t>(j, "val_bytes", where);
  if (meta.train_bytes < 0 || meta.val_bytes < 0) throw FormatError(where + ": negative byte count");
  return meta;
}

// Removes a stale meta.json so an interrupted prepare never leaves a mismatched dataset.
void remove_stale_meta(const std::string& out_dir) {
  const std::string path = join_path(out_dir, "meta.json");
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec) throw IoError("cannot remove old " + path + ": " + ec.message());
}

}  // namespace

std::string token_dtype_for_vocab(int64_t vocab_size) {
  require(vocab_size >= 1 && vocab_size <= (int64_t{1} << 32),
          "vocab_size " + std::to_string(vocab_size) + " is out of range");
  return vocab_size <= 65536 ? "uint16" : "uint32";
}

DatasetMeta load_dataset_meta(const std::string& dir) {
  const std::string path = join_path(dir, "meta.json");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw IoError("no meta.json in " + dir + ": run `nexus prepare` first");
  return meta_from_json(read_json_file(path), path);
}

void save_dataset_meta(const std::string& dir, const DatasetMeta& meta) {
  json j = {{"version", 1},
            {"vocab_size", meta.vocab_size},
            {"dtype", meta.dtype},
            {"train_tokens", meta.train_tokens},
            {"val_tokens", meta.val_tokens},
            {"tokenizer", meta.tokenizer},
            {"train_bytes", meta.train_bytes},
            {"val_bytes", meta.val_bytes}};
  write_file_atomic(join_path(dir, "meta.json"), j.dump(2) + "\n");
}

void write_token_file(const std::string& path, std::span<const int32_t> tokens, const std::string& dtype) {
  const int64_t elem = element_size(dtype);
  const int64_t max_value = elem == 2 ? 65535 : INT32_MAX;
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] > max_value)
      throw InvalidArgument("write_token_file " + path + ": token " + std::to_string(tokens[i]) + " at position " +
                            std::to_string(i) + " does not fit " + dtype);
  write_file_atomic(path, std::function<void(std::FILE*)>([&](std::FILE* f) {
                      std::vector<uint8_t> buf;
                      constexpr size_t kChunk = 1 << 16;
                      for (size_t start = 0; start < tokens.size(); start += kChunk) {
                        const size_t end = std::min(tokens.size(), start + kChunk);
                        buf.clear();
                        for (size_t i = start; i < end; ++i) {
                          const uint32_t v = static_cast<uint32_t>(tokens[i]);
                          for (int b = 0; b < elem; ++b) buf.push_back(static_cast<uint8_t>(v >> (8 * b)));
                        }
                        std::fwrite(buf.data(), 1, buf.size(), f);
                      }
                    }));
}

size_t text_split_point(std::string_view text, double val_fraction) {
  size_t p = static_cast<size_t>(static_cast<double>(text.size()) * (1.0 - val_fraction));
  p = std::min(p, text.size());
  const size_t line = p == 0 ? 0 : text.find('\n', p - 1);
  if (line != std::string_view::npos && line + 1 < text.size()) return line + 1;
  while (p < text.size() && (static_cast<uint8_t>(text[p]) & 0xC0) == 0x80) ++p;
  return p;
}

namespace {

// Token ids of both splits plus the text bytes behind each.
struct Encoded {
  std::unique_ptr<Tokenizer> tok;
  std::vector<int32_t> train, val;
  int64_t train_bytes = 0, val_bytes = 0;
};

// char/byte: the vocabulary comes from the whole text and the ids are cut by count.
Encoded encode_by_token_count(const std::string& text, const std::string& spec, double val_fraction) {
  Encoded e;
  e.tok = make_tokenizer(spec, text);
  std::vector<int32_t> ids = e.tok->encode(text);
  const size_t n_train = static_cast<size_t>(static_cast<double>(ids.size()) * (1.0 - val_fraction));
  e.val.assign(ids.begin() + static_cast<std::ptrdiff_t>(n_train), ids.end());
  ids.resize(n_train);
  e.train = std::move(ids);
  e.train_bytes = static_cast<int64_t>(e.tok->decode(e.train).size());
  e.val_bytes = static_cast<int64_t>(text.size()) - e.train_bytes;
  return e;
}

// BPE (trained on the training text, or loaded from a path): the text is cut first.
Encoded encode_by_text_split(const std::string& text, const std::string& spec, double val_fraction) {
  Encoded e;
  const size_t cut = text_split_point(text, val_fraction);
  const std::string_view train_text = std::string_view(text).substr(0, cut);
  const std::string_view val_text = std::string_view(text).substr(cut);
  if (is_bpe_spec(spec)) {
    e.tok = make_tokenizer(spec, train_text);
  } else {
    std::error_code ec;
    require(std::filesystem::exists(spec, ec), "unknown tokenizer '" + spec +
                                                   "' (expected char, byte, bpe:N[:gpt2|gpt4|gpt4o], or the path of a "
                                                   "tokenizer.json or of a directory with encoder.json + vocab.bpe)");
    e.tok = load_tokenizer(spec);
  }
  e.train = e.tok->encode(train_text);
  e.val = e.tok->encode(val_text);
  e.train_bytes = static_cast<int64_t>(train_text.size());
  e.val_bytes = static_cast<int64_t>(val_text.size());
  return e;
}

}  // namespace

DatasetMeta prepare_dataset(const std::string& input_text_path, const std::string& out_dir,
                            const std::string& tokenizer_spec, double val_fraction) {
  require(val_fraction > 0.0 && val_fraction < 1.0,
          "val_fraction must be in (0, 1), got " + std::to_string(val_fraction));
  const std::string text = read_file(input_text_path);
  require(!text.empty(), "input " + input_text_path + " is empty");
  const bool by_count = tokenizer_spec == "char" || tokenizer_spec == "byte";
  const Encoded e = by_count ? encode_by_token_count(text, tokenizer_spec, val_fraction)
                             : encode_by_text_split(text, tokenizer_spec, val_fraction);
  const int64_t n_train = static_cast<int64_t>(e.train.size());
  const int64_t n_val = static_cast<int64_t>(e.val.size());
  require(n_train >= kMinSplitTokens && n_val >= kMinSplitTokens,
          "input " + input_text_path + " is too short: " + std::to_string(n_train + n_val) + " tokens give " +
              std::to_string(n_train) + " train and " + std::to_string(n_val) + " val tokens, need at least " +
              std::to_string(kMinSplitTokens) + " in each split");
  DatasetMeta meta;
  meta.vocab_size = e.tok->vocab_size();
  meta.dtype = token_dtype_for_vocab(meta.vocab_size);
  meta.train_tokens = n_train;
  meta.val_tokens = n_val;
  meta.tokenizer = tokenizer_spec;
  meta.train_bytes = e.train_bytes;
  meta.val_bytes = e.val_bytes;
  ensure_directory(out_dir);
  remove_stale_meta(out_dir);
  write_token_file(join_path(out_dir, "train.bin"), e.train, meta.dtype);
  write_token_file(join_path(out_dir, "val.bin"), e.val, meta.dtype);
  save_tokenizer(*e.tok, join_path(out_dir, "tokenizer.json"));
  save_dataset_meta(out_dir, meta);
  return meta;
}

TokenFile::TokenFile(const std::string& path, const std::string& dtype)
    : dtype_(dtype), elem_size_(element_size(dtype)) {
  map_ = MappedFile(path);
  if (map_.size() % static_cast<size_t>(elem_size_) != 0)
    throw FormatError("token file " + path + " has " + std::to_string(map_.size()) + " bytes, not a multiple of " +
                      std::to_string(elem_size_) + " (" + dtype + "): truncated or wrong dtype");
  count_ = static_cast<int64_t>(map_.size()) / elem_size_;
}

int32_t TokenFile::at(int64_t i) const {
  if (i < 0 || i >= count_)
    throw InvalidArgument("token index " + std::to_string(i) + " is outside [0, " + std::to_string(count_) +
                          ") of " + path());
  return (*this)[i];
}

TokenFile open_split(const std::string& dir, const DatasetMeta& meta, const std::string& split) {
  require(split == "train" || split == "val", "unknown split '" + split + "' (expected train or val)");
  const std::string path = join_path(dir, split + ".bin");
  TokenFile file(path, meta.dtype);
  const int64_t expected = split == "train" ? meta.train_tokens : meta.val_tokens;
  if (file.size() != expected)
    throw FormatError(path + " holds " + std::to_string(file.size()) + " tokens but meta.json says " +
                      std::to_string(expected) + ": re-run `nexus prepare`");
  return file;
}

BatchSampler::BatchSampler(const TokenFile& file, int batch, int block, int vocab_size)
    : file_(&file), batch_(batch), block_(block), vocab_size_(vocab_size) {
  require(batch >= 1, "batch size must be >= 1, got " + std::to_string(batch));
  require(block >= 1, "block size must be >= 1, got " + std::to_string(block));
  require(vocab_size >= 1, "vocab_size must be >= 1, got " + std::to_string(vocab_size));
  const int64_t n = file.size();
  require(n >= static_cast<int64_t>(block) + 1,
          "split " + file.path() + " is too short for block size " + std::to_string(block) + ": it holds " +
              std::to_string(n) + " tokens, need at least " + std::to_string(block + 1));
  int64_t first_bad = n;
#pragma omp parallel for reduction(min : first_bad) schedule(static)
  for (int64_t i = 0; i < n; ++i)
    if (static_cast<uint32_t>(file[i]) >= static_cast<uint32_t>(vocab_size) && i < first_bad) first_bad = i;
  if (first_bad < n)
    throw FormatError("token file " + file.path() + ": token at position " + std::to_string(first_bad) +
                      " has value " + std::to_string(static_cast<uint32_t>(file[first_bad])) +
                      ", not below vocab_size " + std::to_string(vocab_size));
}

void BatchSampler::sample(Rng& rng, std::span<int32_t> x, std::span<int32_t> y, std::vector<int64_t>* offsets) const {
  const size_t bt = static_cast<size_t>(batch_) * static_cast<size_t>(block_);
  require(x.size() == bt && y.size() == bt,
          "BatchSampler::sample: x and y must each hold batch*block = " + std::to_string(bt) + " ids");
  const uint64_t choices = static_cast<uint64_t>(file_->size() - block_);
  if (offsets) offsets->assign(static_cast<size_t>(batch_), 0);
  for (int b = 0; b < batch_; ++b) {
    const int64_t o = static_cast<int64_t>(rng.below(choices));
    if (offsets) (*offsets)[static_cast<size_t>(b)] = o;
    int32_t* xr = x.data() + static_cast<size_t>(b) * block_;
    int32_t* yr = y.data() + static_cast<size_t>(b) * block_;
    for (int t = 0; t < block_; ++t) {
      xr[t] = (*file_)[o + t];
      yr[t] = (*file_)[o + t + 1];
    }
  }
}

void BatchSampler::sample(Rng& rng, std::vector<int32_t>& x, std::vector<int32_t>& y) const {
  const size_t bt = static_cast<size_t>(batch_) * static_cast<size_t>(block_);
  x.resize(bt);
  y.resize(bt);
  sample(rng, std::span<int32_t>(x), std::span<int32_t>(y));
}

}  // namespace nexus
