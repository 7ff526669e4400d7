#pragma once
// Binds a visit()-able config struct (GPTConfig, TrainConfig) to CLI11 options named after
// its fields with dashes (block_size -> --block-size), and copies only the flags the user
// actually gave onto a target config, so flags override a config file or a checkpoint.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace nexus::cli {

/// "block_size" -> "--block-size".
inline std::string flag_name(const std::string& field) {
  std::string s = field;
  std::replace(s.begin(), s.end(), '_', '-');
  return "--" + s;
}

/// Options for every field of a Config, bound to an internal copy holding the defaults.
template <class Config>
class ConfigFlags {
 public:
  /// Adds one option per field of `defaults` except those in `skip`, under `group`.
  void add(CLI::App& app, const Config& defaults, const std::string& group, const std::set<std::string>& skip = {}) {
    values_ = defaults;
    values_.visit([&](const char* name, auto& field, const char* help) {
      if (skip.count(name)) {
        options_.push_back(nullptr);
        return;
      }
      options_.push_back(app.add_option(flag_name(name), field, help)->capture_default_str()->group(group));
    });
  }

  /// Copies every field whose flag was given on the command line into `target`.
  void apply(Config& target) const {
    std::vector<const void*> sources;
    values_.visit([&](const char*, const auto& field, const char*) { sources.push_back(&field); });
    size_t i = 0;
    target.visit([&](const char*, auto& field, const char*) {
      using T = std::decay_t<decltype(field)>;
      if (options_[i] && options_[i]->count() > 0) field = *static_cast<const T*>(sources[i]);
      i++;
    });
  }

  /// True if the flag of field `name` was given.
  bool given(const std::string& name) const {
    size_t i = 0;
    bool result = false;
    values_.visit([&](const char* field, const auto&, const char*) {
      if (field == name && options_[i]) result = options_[i]->count() > 0;
      i++;
    });
    return result;
  }

 private:
  Config values_;
  std::vector<CLI::Option*> options_;
};

}  // namespace nexus::cli
