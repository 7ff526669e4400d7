#include "io/json_input.h"

#include <set>
#include <vector>

#include "io/atomic_file.h"

namespace nexus {

nlohmann::json parse_json(std::string_view text, const std::string& where, const JsonLimits& limits) {
  using json = nlohmann::json;
  if (text.size() > limits.max_bytes)
    throw FormatError(where + " is " + std::to_string(text.size()) + " bytes of JSON, more than the limit of " +
                      std::to_string(limits.max_bytes));
  int depth = 0;
  std::vector<std::set<std::string>> keys;  // keys of the open objects (unique_keys only)
  // Throwing from the callback stops the parser at once: nothing past the limit is built.
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (++depth > limits.max_depth)
          throw FormatError(where + " is nested too deeply (JSON deeper than " +
                            std::to_string(limits.max_depth) + " levels)");
        if (limits.unique_keys && event == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        --depth;
        if (limits.unique_keys && event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (limits.unique_keys && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
          throw FormatError(where + " has duplicate key '" + parsed.get<std::string>() + "'");
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    throw FormatError(where + " is not valid JSON: " + e.what());
  }
}

nlohmann::json read_json_file(const std::string& path, const JsonLimits& limits) {
  return parse_json(read_file(path, limits.max_bytes), path, limits);
}

}  // namespace nexus
