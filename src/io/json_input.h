#pragma once
// JSON read from files a user (or anyone who hands them a file) controls: config.json,
// meta.json, tokenizer.json, the safetensors header, JSON inside GGUF metadata, prompts.
// Parsing is bounded in size and nesting, so a hostile file fails in milliseconds instead of
// growing the parser's tree (50 MB of "[[[[..." costs about 1.9 GB in a plain
// nlohmann::json::parse), and fields are read with checks that refuse a value the field's type
// cannot hold instead of wrapping it (n_layer = 2^32 + 1 read as an int is 1).
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.h"

namespace nexus {

/// Bounds on JSON read from a file.
struct JsonLimits {
  /// Deepest nesting of arrays and objects. Nexus's own files need 3, a Hugging Face
  /// tokenizer.json about 6.
  int max_depth = 64;
  /// Largest text, in bytes. The largest real tokenizer.json files are tens of MB.
  uint64_t max_bytes = 256ull << 20;
  /// Refuse an object that holds the same key twice (nlohmann keeps the last one silently).
  bool unique_keys = false;
};

/// Parses `text` within `limits`. FormatError "<where> is ..." for invalid JSON or a limit
/// passed; nesting is refused the moment it passes max_depth, before anything deeper is
/// built, so memory stays proportional to the accepted part.
nlohmann::json parse_json(std::string_view text, const std::string& where, const JsonLimits& limits = {});

/// Reads and parses the JSON file `path` (its size is checked before it is read). IoError
/// when it cannot be read, FormatError naming the path when it is not JSON within `limits`.
nlohmann::json read_json_file(const std::string& path, const JsonLimits& limits = {});

/// The JSON value `v` as a T (bool, std::string, an integer or a floating-point type).
/// FormatError "<what> ..." for another JSON type (booleans are not numbers), an integer
/// that does not fit T, a number with a fraction or exponent for an integer type, or a
/// number outside a floating-point type's finite range.
template <class T>
T json_value(const nlohmann::json& v, const std::string& what) {
  auto wrong = [&](const std::string& expected) -> T {
    throw FormatError(what + " must be " + expected + ", got " + v.dump());
  };
  if constexpr (std::is_same_v<T, bool>) {
    return v.is_boolean() ? v.get<bool>() : wrong("true or false");
  } else if constexpr (std::is_same_v<T, std::string>) {
    return v.is_string() ? v.get<std::string>() : wrong("a string");
  } else if constexpr (std::is_integral_v<T>) {
    using L = std::numeric_limits<T>;
    const std::string range = "an integer in [" + std::to_string(L::min()) + ", " + std::to_string(L::max()) + "]";
    if (!v.is_number_integer()) return wrong(range);
    if (v.is_number_unsigned())
      return v.get<uint64_t>() <= static_cast<uint64_t>(L::max()) ? static_cast<T>(v.get<uint64_t>()) : wrong(range);
    const int64_t x = v.get<int64_t>();
    if constexpr (std::is_signed_v<T>) {
      if (x < static_cast<int64_t>(L::min()) || x > static_cast<int64_t>(L::max())) return wrong(range);
    } else {
      if (x < 0 || static_cast<uint64_t>(x) > static_cast<uint64_t>(L::max())) return wrong(range);
    }
    return static_cast<T>(x);
  } else {
    static_assert(std::is_floating_point_v<T>, "json_value reads bool, std::string, integers and floats");
    if (!v.is_number()) return wrong("a number");
    const double x = v.get<double>();
    if (!std::isfinite(x) || std::fabs(x) > static_cast<double>(std::numeric_limits<T>::max()))
      return wrong("a finite number that fits a " + std::to_string(sizeof(T) * 8) + "-bit float");
    return static_cast<T>(x);
  }
}

/// Reads every field of a visit()-able config (GPTConfig, TrainConfig, ...: visit calls
/// v(name, field, help)) that the object `j` holds, with json_value; the others keep their
/// values. `what` names the object in messages ("model config" -> "model config field
/// 'n_layer' must be ..."). FormatError when `j` is not an object.
template <class Config>
void read_json_fields(Config& config, const nlohmann::json& j, const std::string& what) {
  if (!j.is_object()) throw FormatError(what + " must be a JSON object");
  config.visit([&](const char* name, auto& field, const char*) {
    const auto it = j.find(name);
    if (it != j.end())
      field = json_value<std::decay_t<decltype(field)>>(*it, what + " field '" + name + "'");
  });
}

}  // namespace nexus
