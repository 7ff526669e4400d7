#include "train/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_input.h"
#include "io/safetensors.h"
#include "model/model_io.h"

namespace nexus {

namespace fs = std::filesystem;

namespace {
constexpr const char* kStateFile = "trainer_state.safetensors";

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Moves the finished temporary directory into place: an atomic exchange with the old
// checkpoint when there is one, then the old contents (now at `tmp`) are removed.
void install_directory(const std::string& tmp, const std::string& dir) {
  const std::string parent = fs::path(dir).parent_path().string();
  if (!fs::exists(dir)) {
    if (std::rename(tmp.c_str(), dir.c_str()) != 0)
      throw IoError("cannot rename " + tmp + " to " + dir + ": " + std::strerror(errno));
  } else if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0) {
    throw IoError("cannot swap checkpoint " + dir + " with " + tmp + ": " + std::strerror(errno));
  }
  fsync_path(parent.empty() ? "." : parent);
  std::error_code ec;
  fs::remove_all(tmp, ec);
}

// Removes DIR.tmp-<pid> siblings left by saves that were killed (their process is gone),
// so repeated crashes do not pile up whole stale checkpoints next to DIR.
void remove_stale_temporaries(const std::string& dir) {
  const fs::path target(dir);
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) continue;
    const pid_t pid = (pid_t)std::stol(digits);
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code remove_ec;
    fs::remove_all(entry.path(), remove_ec);  // best effort: a leftover never blocks a save
  }
}
}  // namespace

void save_checkpoint(const std::string& dir, const CheckpointSource& src) {
  const std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  remove_stale_temporaries(dir);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  ensure_directory(tmp);
  try {
    const std::string step = std::to_string(src.state.step);
    save_model_weights(src.model, (fs::path(tmp) / kModelFile).string(), {{"step", step}});
    nlohmann::json config = {{"model", to_json(src.model.config())},
                             {"train", to_json(src.train)},
                             // Absolute, so `--resume` without --data works from any directory.
                             {"data_dir", fs::absolute(src.data_dir).lexically_normal().string()},
                             {"step", src.state.step}};
    write_file_atomic((fs::path(tmp) / kConfigFile).string(), config.dump(2) + "\n");
    write_file_atomic((fs::path(tmp) / kTokenizerFile).string(), src.tokenizer_json);
    const auto n = (int64_t)src.optimizer.m().size();
    std::map<std::string, std::string> meta = {{"step", step},
                                               {"rng_state", std::to_string(src.state.rng_state)},
                                               {"best_val_loss", std::to_string(src.state.best_val_loss)},
                                               {"version", "1"}};
    save_safetensors((fs::path(tmp) / kStateFile).string(),
                     {{"adam.m", DType::F32, {n}, src.optimizer.m().data()},
                      {"adam.v", DType::F32, {n}, src.optimizer.v().data()}},
                     meta);
    fsync_path(tmp);
    install_directory(tmp, dir);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

void require_checkpoint(const std::string& dir) {
  if (!fs::exists(fs::path(dir) / kModelFile))
    throw IoError("cannot resume: no checkpoint in " + dir + " (train without --resume first)");
}

void check_resume_architecture(const GPTConfig& saved, const GPTConfig& requested, const std::string& dir) {
  const nlohmann::json a = to_json(saved), b = to_json(requested);
  for (const auto& [key, value] : a.items()) {
    // vocab_size comes from the dataset (checked against it by the trainer); dropout may change.
    if (key == "dropout" || key == "vocab_size" || b.at(key) == value) continue;
    throw InvalidArgument("cannot resume " + dir + " with " + key + " = " + b.at(key).dump() + ": the checkpoint has " +
                          key + " = " + value.dump() + " (a resumed run keeps its architecture; use a new --out)");
  }
}

void check_resume_tokenizer(const std::string& dir, const std::string& tokenizer_json, const std::string& data_dir) {
  const std::string path = (fs::path(dir) / kTokenizerFile).string();
  const std::string saved = read_file(path);
  if (saved == tokenizer_json) return;
  // The same tokenizer written with other spacing or key order is still the same tokenizer.
  try {
    if (parse_json(saved, path) == parse_json(tokenizer_json, data_dir + "/tokenizer.json")) return;
  } catch (const FormatError&) {
    // Not comparable as JSON: different.
  }
  throw InvalidArgument("cannot resume " + dir + " on the dataset " + data_dir + ": its tokenizer.json differs from " +
                        path + " (the ids would change meaning; resume on the dataset the run was trained on, or "
                        "train into a new --out)");
}

namespace {
nlohmann::json read_config_json(const std::string& dir) {
  const std::string path = (fs::path(dir) / kConfigFile).string();
  nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw FormatError(path + ": expected a JSON object");
  return j;
}
}  // namespace

TrainConfig load_checkpoint_train_config(const std::string& dir) {
  const nlohmann::json j = read_config_json(dir);
  TrainConfig config;
  if (j.contains("train")) {
    try {
      update_from_json(config, j.at("train"));
    } catch (const Error& e) {
      throw FormatError((fs::path(dir) / kConfigFile).string() + ": " + e.what());
    }
  }
  return config;
}

std::string load_checkpoint_data_dir(const std::string& dir) {
  const nlohmann::json j = read_config_json(dir);
  const auto it = j.find("data_dir");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

namespace {
// The optimizer state holds exactly adam.m and adam.v, each of n floats (checked before
// the moments are allocated: the table, not the data).
void check_optimizer_state(const SafetensorsFile& state, int64_t n) {
  for (const char* name : {"adam.m", "adam.v"}) {
    if (!state.has(name)) throw FormatError(state.path() + ": missing tensor '" + name + "'");
    const std::vector<int64_t>& shape = state.info(name).shape;
    if (shape != std::vector<int64_t>{n})
      throw FormatError(state.path() + ": tensor '" + name + "' has shape " + shape_to_string(shape) + ", expected " +
                        shape_to_string({n}) + " (one moment per parameter of the model config)");
  }
  if (state.names().size() != 2)
    throw FormatError(state.path() + ": holds " + std::to_string(state.names().size()) +
                      " tensors, expected adam.m and adam.v only");
}

// A number in the trainer state's metadata, which must be exactly a T: "-1" for a step,
// "12abc" or 2^64 for the RNG state are refused, not wrapped or cut short.
template <class T>
T parse_meta_number(const SafetensorsFile& file, const std::string& key) {
  auto it = file.metadata().find(key);
  if (it == file.metadata().end()) throw FormatError(file.path() + ": metadata has no '" + key + "'");
  const std::string& text = it->second;
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  bool ok = ec == std::errc() && end == text.data() + text.size();
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) ok = ok && value >= 0;
  if (!ok)
    throw FormatError(file.path() + ": metadata '" + key + "' is not a " +
                      (std::is_integral_v<T> ? "non-negative integer that fits" : "number") + ": " + text);
  return value;
}
}  // namespace

void check_checkpoint(const std::string& dir, const GPTConfig& config) {
  check_weights_file(config, stored_tensors(SafetensorsFile((fs::path(dir) / kModelFile).string())));
  const auto n = (int64_t)parameter_count(config);
  check_optimizer_state(SafetensorsFile((fs::path(dir) / kStateFile).string()), n);
}

TrainerState load_checkpoint(const std::string& dir, GPT& model, AdamW& optimizer) {
  SafetensorsFile weights((fs::path(dir) / kModelFile).string());
  load_model_weights(model, weights);
  SafetensorsFile state_file((fs::path(dir) / kStateFile).string());
  const int64_t n = (int64_t)optimizer.m().size();
  check_optimizer_state(state_file, n);
  const float* m = state_file.f32("adam.m", {n});
  const float* v = state_file.f32("adam.v", {n});
  std::copy(m, m + n, optimizer.m().data());
  std::copy(v, v + n, optimizer.v().data());
  TrainerState state;
  state.step = parse_meta_number<long>(state_file, "step");
  state.rng_state = parse_meta_number<uint64_t>(state_file, "rng_state");
  state.best_val_loss = parse_meta_number<float>(state_file, "best_val_loss");
  auto wstep = weights.metadata().find("step");
  if (wstep != weights.metadata().end() && wstep->second != std::to_string(state.step))
    throw FormatError(dir + ": weights (step " + wstep->second + ") and trainer state (step " +
                      std::to_string(state.step) + ") do not belong together");
  return state;
}

}  // namespace nexus
