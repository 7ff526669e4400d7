#include "tokenizer/hf_json.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_input.h"
#include "tokenizer/byte_level.h"

namespace nexus {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& what) { throw FormatError(source + ": " + what); }

// A token name for messages: quoted, cut after 40 bytes.
std::string quote(std::string_view s) {
  std::string out(1, '\'');
  out.append(s.substr(0, 40));
  out += s.size() > 40 ? "...'" : "'";
  return out;
}

// Collects (name, id) vocab entries and added tokens, checks the ids, and resolves merges
// given by name. Names are byte-level spellings; ids must cover 0..N-1 exactly.
class VocabBuilder {
 public:
  VocabBuilder(std::string source, size_t max_ids) : source_(std::move(source)), names_(max_ids), added_(max_ids) {}

  void add_vocab(const std::string& name, const json& id_value) {
    const int32_t id = checked_id(id_value, "vocab entry " + quote(name));
    if (names_[id])
      fail(source_, "duplicate id " + std::to_string(id) + " (tokens " + quote(*names_[id]) + " and " + quote(name) + ")");
    names_[id] = &name;
    by_name_.emplace(name, id);
    top_ = std::max(top_, id);
  }

  void add_added(const json& entry, size_t index) {
    const std::string where = "added_tokens[" + std::to_string(index) + "]";
    if (!entry.is_object() || !entry.contains("id") || !entry.contains("content"))
      fail(source_, where + " must be an object with 'id' and 'content'");
    const int32_t id = checked_id(entry.at("id"), where + ".id");
    if (!entry.at("content").is_string() || entry.at("content").get_ref<const std::string&>().empty())
      fail(source_, where + ".content must be a non-empty string");
    if (added_[id]) fail(source_, "added token id " + std::to_string(id) + " is listed twice");
    bool special = true;
    if (entry.contains("special")) {
      if (!entry.at("special").is_boolean()) fail(source_, where + ".special must be true or false");
      special = entry.at("special").get<bool>();
    }
    added_[id] = true;
    data_.added.push_back({id, entry.at("content").get<std::string>(), special});
    top_ = std::max(top_, id);
  }

  // Call after all vocab entries and added tokens: fills data_.tokens.
  void finish_vocab() {
    if (top_ < 0) fail(source_, "the vocabulary is empty");
    const size_t n = static_cast<size_t>(top_) + 1;
    data_.tokens.resize(n);
    for (size_t id = 0; id < n; ++id) {
      if (added_[id]) continue;  // the BpeTokenizer fills in the added token's content
      if (!names_[id]) fail(source_, "id " + std::to_string(id) + " is missing (ids must cover 0.." + std::to_string(n - 1) + ")");
      std::optional<std::string> bytes = byte_level_to_bytes(*names_[id]);
      if (!bytes)
        fail(source_, "vocab token " + quote(*names_[id]) + " (id " + std::to_string(id) +
                          ") uses characters outside the byte-level alphabet");
      data_.tokens[id] = std::move(*bytes);
    }
  }

  void add_merge(size_t rank, std::string_view left, std::string_view right) {
    data_.merges.emplace_back(lookup(rank, left), lookup(rank, right));
  }

  std::unique_ptr<BpeTokenizer> build(SplitPattern pattern) {
    data_.pattern = pattern;
    return std::make_unique<BpeTokenizer>(std::move(data_), source_);
  }

 private:
  int32_t checked_id(const json& v, const std::string& what) const {
    if (!v.is_number_integer()) fail(source_, what + ": id is not an integer");
    const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() < names_.size()
                                                 : v.get<int64_t>() >= 0 && v.get<int64_t>() < static_cast<int64_t>(names_.size());
    if (!in_range)
      fail(source_, what + ": id " + v.dump() + " is out of range (the file defines " + std::to_string(names_.size()) +
                        " tokens, so ids must be in [0, " + std::to_string(names_.size()) + "))");
    return static_cast<int32_t>(v.get<int64_t>());
  }
  int32_t lookup(size_t rank, std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    if (it == by_name_.end()) fail(source_, "merge " + std::to_string(rank) + " names unknown token " + quote(name));
    return it->second;
  }

  std::string source_;
  std::vector<const std::string*> names_;
  std::vector<bool> added_;
  std::unordered_map<std::string, int32_t> by_name_;
  int32_t top_ = -1;
  BpeData data_;
};

const json* field(const json& j, const char* key) {
  return j.contains(key) && !j.at(key).is_null() ? &j.at(key) : nullptr;
}

std::string type_of(const json& j) {
  return j.is_object() && j.contains("type") && j.at("type").is_string() ? j.at("type").get<std::string>() : "";
}

bool flag(const json& j, const char* key, bool dflt) {
  const json* f = field(j, key);
  return f && f->is_boolean() ? f->get<bool>() : dflt;
}

// A ByteLevel pre-tokenizer object; returns its use_regex (default true).
bool byte_level_pre(const json& p, const std::string& source) {
  if (flag(p, "add_prefix_space", false)) fail(source, "pre_tokenizer ByteLevel with add_prefix_space = true is not supported");
  return flag(p, "use_regex", true);
}

// True when a Split yields exactly its regex's matches: behavior Isolated (or absent) with
// invert false, as Nexus writes it, or Removed with invert true, as some tokenizer.json files
// converted from tiktoken have it. (The patterns here match every character, so the gaps
// between matches that Removed drops are empty.)
bool split_keeps_matches(const json& split) {
  const json* b = field(split, "behavior");
  const std::string behavior = b && b->is_string() ? b->get<std::string>() : b ? "" : "Isolated";
  const bool invert = flag(split, "invert", false);
  return (behavior == "Isolated" && !invert) || (behavior == "Removed" && invert);
}

SplitPattern parse_pre_tokenizer(const json& j, const std::string& source) {
  const json* p = field(j, "pre_tokenizer");
  if (!p) fail(source, "no pre_tokenizer: only byte-level BPE (ByteLevel pre-tokenizer) is supported");
  const std::string type = type_of(*p);
  if (type == "ByteLevel") {
    if (!byte_level_pre(*p, source)) fail(source, "pre_tokenizer ByteLevel with use_regex = false and no Split is not supported");
    return SplitPattern::kGpt2;
  }
  if (type == "Sequence" && p->contains("pretokenizers") && p->at("pretokenizers").is_array() &&
      p->at("pretokenizers").size() == 2) {
    const json& split = p->at("pretokenizers")[0];
    const json& byte_level = p->at("pretokenizers")[1];
    if (type_of(split) == "Split" && type_of(byte_level) == "ByteLevel" && !byte_level_pre(byte_level, source) &&
        split.contains("pattern") && split.at("pattern").is_object() && split.at("pattern").contains("Regex") &&
        split_keeps_matches(split)) {
      const json& re = split.at("pattern").at("Regex");
      for (SplitPattern sp : kSplitPatterns)
        if (re.is_string() && re.get<std::string>() == split_pattern_regex(sp)) return sp;
      fail(source, "pre_tokenizer Split regex is not the GPT-2, GPT-4 (cl100k) or GPT-4o (o200k) pattern: " +
                       re.dump());
    }
  }
  fail(source, "unsupported pre_tokenizer " + p->dump().substr(0, 120) +
                   " (expected ByteLevel, or Sequence[Split(gpt2|gpt4|gpt4o regex, Isolated), ByteLevel])");
}

void check_model_options(const json& j, const json& model, const std::string& source) {
  if (const json* t = field(model, "type"); t && (!t->is_string() || t->get<std::string>() != "BPE"))
    fail(source, "model type " + t->dump() + " is not supported (only BPE)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const json* f = field(model, key); f && !(f->is_string() && f->get<std::string>().empty()))
      fail(source, std::string("model.") + key + " is not supported");
  if (flag(model, "byte_fallback", false)) fail(source, "model.byte_fallback is not supported");
  if (const json* d = field(model, "dropout"); d && !(d->is_number() && d->get<double>() == 0.0))
    fail(source, "model.dropout is not supported");
  if (field(j, "normalizer")) fail(source, "a normalizer is not supported (byte-level BPE uses none)");
  if (const json* d = field(j, "decoder"); d && type_of(*d) != "ByteLevel")
    fail(source, "decoder " + d->dump().substr(0, 80) + " is not supported (expected ByteLevel)");
}

void add_hf_merges(const json& merges, VocabBuilder& vb, const std::string& source) {
  if (!merges.is_array()) fail(source, "model.merges must be an array");
  for (size_t r = 0; r < merges.size(); ++r) {
    const json& m = merges[r];
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        fail(source, "merge " + std::to_string(r) + " " + quote(s) + " is not two tokens separated by one space");
      vb.add_merge(r, std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      vb.add_merge(r, m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>());
    } else {
      fail(source, "merge " + std::to_string(r) + " must be a string \"a b\" or an array [\"a\", \"b\"]");
    }
  }
}

template <class J>
J byte_level_json(bool use_regex) {
  J b;
  b["type"] = "ByteLevel";
  b["add_prefix_space"] = false;
  b["trim_offsets"] = true;
  b["use_regex"] = use_regex;
  return b;
}

// Byte-level spellings of the ordinary tokens ("" for added ones).
std::vector<std::string> token_names(const BpeData& d) {
  std::vector<std::string> names(d.tokens.size());
  for (size_t id = 0; id < d.tokens.size(); ++id) names[id] = bytes_to_byte_level(d.tokens[id]);
  for (const AddedToken& a : d.added) names[a.id].clear();
  return names;
}

// Everything of tokenizer.json but model.vocab and model.merges, in Hugging Face's key order.
nlohmann::ordered_json hf_skeleton(const BpeData& d) {
  using J = nlohmann::ordered_json;
  J out;
  out["version"] = "1.0";
  out["truncation"] = nullptr;
  out["padding"] = nullptr;
  J added = J::array();
  for (const AddedToken& a : d.added)
    added.push_back(J{{"id", a.id}, {"content", a.content}, {"single_word", false}, {"lstrip", false},
                      {"rstrip", false}, {"normalized", false}, {"special", a.special}});
  out["added_tokens"] = std::move(added);
  out["normalizer"] = nullptr;
  if (d.pattern == SplitPattern::kGpt2) {
    out["pre_tokenizer"] = byte_level_json<J>(true);
  } else {
    J split{{"type", "Split"}, {"pattern", {{"Regex", split_pattern_regex(d.pattern)}}}, {"behavior", "Isolated"},
            {"invert", false}};
    out["pre_tokenizer"] = J{{"type", "Sequence"}, {"pretokenizers", J::array({split, byte_level_json<J>(false)})}};
  }
  out["post_processor"] = nullptr;
  out["decoder"] = byte_level_json<J>(true);
  out["model"] = J{{"type", "BPE"},          {"dropout", nullptr},   {"unk_token", nullptr},
                   {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                   {"fuse_unk", false},      {"byte_fallback", false}};
  return out;
}

std::string quoted(const std::string& s) { return json(s).dump(); }

}  // namespace

std::unique_ptr<BpeTokenizer> bpe_from_hf_json(const json& j, const std::string& source) {
  if (!j.is_object()) fail(source, "not a JSON object");
  const json* model = field(j, "model");
  if (!model || !model->is_object()) fail(source, "no 'model' object");
  check_model_options(j, *model, source);
  const SplitPattern pattern = parse_pre_tokenizer(j, source);
  const json* vocab = field(*model, "vocab");
  if (!vocab || !vocab->is_object()) fail(source, "model.vocab must be an object {token: id}");
  const json* merges = field(*model, "merges");
  if (!merges) fail(source, "model.merges is missing");
  const json* added = field(j, "added_tokens");
  if (added && !added->is_array()) fail(source, "added_tokens must be an array");
  VocabBuilder vb(source, vocab->size() + (added ? added->size() : 0));
  for (auto it = vocab->begin(); it != vocab->end(); ++it) vb.add_vocab(it.key(), it.value());
  if (added)
    for (size_t i = 0; i < added->size(); ++i) vb.add_added((*added)[i], i);
  vb.finish_vocab();
  add_hf_merges(*merges, vb, source);
  return vb.build(pattern);
}

std::unique_ptr<BpeTokenizer> bpe_from_gpt2_files(std::string_view encoder_json, std::string_view vocab_bpe,
                                                  const std::string& source) {
  const json enc = parse_json(encoder_json, source + ": encoder.json");
  if (!enc.is_object()) fail(source, "encoder.json is not a JSON object {token: id}");
  constexpr const char* kEndOfText = "<|endoftext|>";
  VocabBuilder vb(source, enc.size());
  for (auto it = enc.begin(); it != enc.end(); ++it) {
    if (it.key() == kEndOfText) vb.add_added(json{{"id", it.value()}, {"content", kEndOfText}}, 0);
    else vb.add_vocab(it.key(), it.value());
  }
  vb.finish_vocab();
  size_t rank = 0, pos = 0, line_no = 0;
  while (pos < vocab_bpe.size()) {
    size_t end = vocab_bpe.find('\n', pos);
    if (end == std::string_view::npos) end = vocab_bpe.size();
    std::string_view line = vocab_bpe.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.substr(0, 9) == "#version:")) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos)
      fail(source, "vocab.bpe line " + std::to_string(line_no) + " " + quote(line) +
                       " is not two tokens separated by one space");
    vb.add_merge(rank++, line.substr(0, sp), line.substr(sp + 1));
  }
  return vb.build(SplitPattern::kGpt2);
}

std::unique_ptr<BpeTokenizer> load_gpt2_dir(const std::string& dir) {
  const std::string enc = (std::filesystem::path(dir) / "encoder.json").string();
  const std::string bpe = (std::filesystem::path(dir) / "vocab.bpe").string();
  return bpe_from_gpt2_files(read_file(enc, JsonLimits{}.max_bytes), read_file(bpe),
                             "GPT-2 tokenizer files " + enc + " / " + bpe);
}

json bpe_to_hf_json(const BpeTokenizer& tok) {
  const BpeData& d = tok.data();
  json out = json::parse(hf_skeleton(d).dump());
  const std::vector<std::string> names = token_names(d);
  json& vocab = out["model"]["vocab"] = json::object();
  for (size_t id = 0; id < names.size(); ++id)
    if (!names[id].empty()) vocab[names[id]] = id;
  json& merges = out["model"]["merges"] = json::array();
  for (const auto& [a, b] : d.merges) merges.push_back(names[a] + " " + names[b]);
  return out;
}

// Written by hand around the skeleton: nlohmann's ordered_json inserts in linear time,
// far too slow for a 50k-entry vocab.
std::string bpe_to_hf_json_text(const BpeTokenizer& tok) {
  const BpeData& d = tok.data();
  const nlohmann::ordered_json skeleton = hf_skeleton(d);
  std::string out = "{\n";
  for (const auto& [key, value] : skeleton.items())
    if (key != "model") out += "  " + quoted(key) + ": " + value.dump() + ",\n";
  out += "  \"model\": {\n";
  for (const auto& [key, value] : skeleton.at("model").items()) out += "    " + quoted(key) + ": " + value.dump() + ",\n";
  const std::vector<std::string> names = token_names(d);
  out += "    \"vocab\": {";
  const char* sep = "\n";
  for (size_t id = 0; id < names.size(); ++id) {
    if (names[id].empty()) continue;
    out += sep + std::string("      ") + quoted(names[id]) + ": " + std::to_string(id);
    sep = ",\n";
  }
  out += "\n    },\n    \"merges\": [";
  sep = "\n";
  for (const auto& [a, b] : d.merges) {
    out += sep + std::string("      ") + quoted(names[a] + " " + names[b]);
    sep = ",\n";
  }
  out += "\n    ]\n  }\n}\n";
  return out;
}

}  // namespace nexus
