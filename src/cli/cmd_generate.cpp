// nexus generate: text generation on the KV-cache engine, for one prompt or a JSONL file of
// prompts run as a ragged batch (continuous batching, --batch-size sequences at once).
//
// Output: one JSON object per prompt, in prompt order, on stdout (or --output FILE):
//   {"index", "id"?, "text", "tokens", "finish_reason", "stop"?, "prompt_tokens",
//    "generated_tokens", "slides", "timings": {"queued_ms", "prompt_ms", "generation_ms",
//    "prompt_tok_per_s", "generation_tok_per_s"}}
// With --stream the text is printed to stdout as it is produced (whole UTF-8 characters
// only) and the JSON objects go to --output when given; a summary goes to stderr.
// A prompts file holds one JSON value per line: a string, or an object with "prompt" and
// optional per-prompt "id", "max_tokens", "stop" and sampler fields overriding the flags.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "infer/generate.h"
#include "io/atomic_file.h"
#include "io/json_input.h"
#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"

namespace nexus::cli {

namespace {

struct GenerateCommand {
  std::string model, prompt, prompts_file, output, overflow = "stop", weights = "auto";
  bool prompt_given = false, stream = false, no_mmap = false, no_escape = false;
  SamplerParams sampler;  // bound to the sampling flags
  std::vector<std::string> logit_bias, stop;
  int max_tokens = 256, batch_size = 8, prefill_tokens = 512, context = 0, eos_id = -2, threads = 0;
  std::string kv_type = "f32";
};

// One prompt of the run: text, its parameters and an optional caller id.
struct PromptJob {
  std::string text;
  GenerationParams params;
  nlohmann::json id;
};

// The parameters the flags describe (before per-prompt overrides).
GenerationParams params_from_flags(const GenerateCommand& cmd, const InferenceModel& model) {
  GenerationParams p;
  p.sampler = cmd.sampler;
  for (const std::string& b : cmd.logit_bias) {
    const auto [id, bias] = parse_logit_bias(b);
    p.sampler.logit_bias[id] = bias;
  }
  p.max_tokens = cmd.max_tokens;
  p.stop = flag_texts(cmd.stop, cmd.no_escape);
  p.overflow = parse_overflow_policy(cmd.overflow);
  p.eos_token = cmd.eos_id;
  if (cmd.eos_id == -2) {  // auto: GPT-2's <|endoftext|> when the tokenizer has it
    const auto* bpe = dynamic_cast<const BpeTokenizer*>(model.tokenizer());
    p.eos_token = bpe ? bpe->added_token_id("<|endoftext|>") : -1;
  }
  p.validate(model.config().vocab_size);
  return p;
}

// Applies the sampler fields present in `j` on top of `base`.
SamplerParams override_sampler(const SamplerParams& base, const nlohmann::json& j) {
  const SamplerParams given = sampler_params_from_json(j);
  SamplerParams out = base;
  std::vector<void*> dst;
  out.visit([&](const char*, auto& field, const char*) { dst.push_back(&field); });
  size_t i = 0;
  given.visit([&](const char* name, const auto& field, const char*) {
    if (j.contains(name)) *static_cast<std::decay_t<decltype(field)>*>(dst[i]) = field;
    i++;
  });
  return out;
}

PromptJob parse_prompt_line(const std::string& line, const GenerationParams& base, const std::string& where) {
  const nlohmann::json j = parse_json(line, where);
  PromptJob job{"", base, nullptr};
  if (j.is_string()) {
    job.text = j.get<std::string>();
    return job;
  }
  if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string())
    throw FormatError(where + ": expected a string or an object with a string \"prompt\"");
  try {
    job.text = j["prompt"].get<std::string>();
    if (j.contains("id")) job.id = j["id"];
    if (j.contains("max_tokens")) job.params.max_tokens = json_value<int>(j["max_tokens"], "max_tokens");
    if (j.contains("stop"))
      job.params.stop = j["stop"].is_string() ? std::vector<std::string>{j["stop"].get<std::string>()}
                                              : j["stop"].get<std::vector<std::string>>();
    job.params.sampler = override_sampler(base.sampler, j);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(where + ": " + e.what());
  } catch (const Error& e) {
    throw FormatError(where + ": " + e.what());
  }
  return job;
}

std::vector<PromptJob> read_jobs(const GenerateCommand& cmd, const GenerationParams& base) {
  if (cmd.prompt_given) return {PromptJob{flag_text(cmd.prompt, cmd.no_escape), base, nullptr}};
  std::ifstream in(cmd.prompts_file);
  if (!in) throw IoError("cannot open prompts file '" + cmd.prompts_file + "'");
  std::vector<PromptJob> jobs;
  std::string line;
  for (int n = 1; std::getline(in, line); n++) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    jobs.push_back(parse_prompt_line(line, base, cmd.prompts_file + ":" + std::to_string(n)));
  }
  if (jobs.empty()) throw InvalidArgument("prompts file '" + cmd.prompts_file + "' holds no prompts");
  return jobs;
}

// Prompts whose --max-tokens cannot fit in the context under --context-overflow stop: they
// would end early with finish_reason "length", so the user is told once, before generating.
struct ContextShortfall {
  int prompts = 0, max_tokens = 0, fits = 0;
  void add(const GenerationParams& p, int prompt_tokens, int context) {
    const int room = tokens_until_context_full(context, prompt_tokens);
    if (p.overflow != OverflowPolicy::Stop || p.max_tokens <= room || room < 1) return;
    if (prompts++ == 0) max_tokens = p.max_tokens, fits = room;
  }
  void report(int context) const {
    if (prompts == 0) return;
    const std::string who = prompts == 1 ? "the prompt leaves" : std::to_string(prompts) + " prompts leave (the first:";
    std::fprintf(stderr,
                 "nexus: note: %s room for %d of the %d --max-tokens in the %d-position context%s: generation stops "
                 "there (finish_reason \"length\"); add --context-overflow slide to go on past it\n",
                 who.c_str(), fits, max_tokens, context, prompts == 1 ? "" : ")");
  }
};

nlohmann::json result_json(const Sequence& s, const nlohmann::json& id) {
  const SequenceTimings& t = s.timings();
  nlohmann::json j = {{"index", s.id()}};
  if (!id.is_null()) j["id"] = id;
  j["text"] = s.text();
  j["tokens"] = s.generated();
  j["finish_reason"] = to_string(s.finish_reason());
  if (!s.stop_string().empty()) j["stop"] = s.stop_string();
  if (!s.error().empty()) j["error"] = s.error();
  j["prompt_tokens"] = t.prompt_tokens;
  j["generated_tokens"] = t.generated_tokens;
  j["slides"] = s.slides();
  j["timings"] = {{"queued_ms", t.queued_ms},
                  {"prompt_ms", t.prompt_ms},
                  {"generation_ms", t.generation_ms},
                  {"prompt_tok_per_s", t.prompt_tok_per_s()},
                  {"generation_tok_per_s", t.generation_tok_per_s()}};
  return j;
}

void run_generate(const GenerateCommand& cmd) {
  apply_threads(cmd.threads);
  if (cmd.prompt_given == !cmd.prompts_file.empty())
    throw InvalidArgument("give exactly one of --prompt and --prompts-file");
  if (cmd.stream && !cmd.prompt_given && cmd.batch_size != 1)
    throw InvalidArgument("--stream prints one sequence at a time: use it with --prompt, or with --batch-size 1");
  auto model = InferenceModel::load(cmd.model, {.mmap = !cmd.no_mmap, .weights = parse_weight_option(cmd.weights)});
  if (!model->tokenizer())
    throw IoError("the model '" + cmd.model + "' has no tokenizer (tokenizer.json, or a .gguf's vocabulary)");
  const std::vector<PromptJob> jobs = read_jobs(cmd, params_from_flags(cmd, *model));
  Scheduler scheduler(model,
                      {cmd.prompt_given ? 1 : cmd.batch_size, cmd.prefill_tokens, cmd.context, parse_kv_type(cmd.kv_type)});
  ContextShortfall shortfall;
  for (size_t i = 0; i < jobs.size(); i++) {
    try {
      std::vector<int32_t> prompt = model->tokenizer()->encode(jobs[i].text);
      shortfall.add(jobs[i].params, (int)prompt.size(), scheduler.context());
      scheduler.submit(std::move(prompt), jobs[i].params);
    } catch (const Error& e) {
      throw InvalidArgument((cmd.prompt_given ? "" : "prompt " + std::to_string(i + 1) + ": ") + e.what());
    }
  }
  shortfall.report(scheduler.context());
  if (cmd.stream)
    scheduler.on_token([](const Sequence&, int32_t, std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    });
  const auto t0 = std::chrono::steady_clock::now();
  std::map<uint64_t, std::string> lines;  // finished results, written in prompt order
  std::string jsonl;
  uint64_t next = 0;
  long generated = 0;
  std::map<uint64_t, std::string> failures;  // prompt index -> error, for the exit status
  for (bool more = true; more;) {
    more = scheduler.step();
    for (auto& s : scheduler.take_finished()) {
      generated += (long)s->generated().size();
      if (s->finish_reason() == FinishReason::Error) failures[s->id()] = s->error();
      if (cmd.stream) std::fputc('\n', stdout);
      // Generated bytes need not be valid UTF-8 (a byte model can emit anything): JSON gets
      // U+FFFD for invalid bytes, and "tokens" keeps the exact output.
      const nlohmann::json j = result_json(*s, jobs[s->id()].id);
      lines[s->id()] = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    for (; lines.count(next); next++) {
      if (!cmd.stream && cmd.output.empty()) std::fputs(lines[next].c_str(), stdout);
      jsonl += lines[next];
    }
    if (!cmd.stream && cmd.output.empty()) std::fflush(stdout);
  }
  if (!cmd.output.empty()) write_file_atomic(cmd.output, jsonl);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "nexus: %zu prompt(s), %ld tokens in %.2f s (%.1f tok/s); weights %s; KV cache %.1f MB\n",
               jobs.size(), generated, s, generated / std::max(s, 1e-9), describe_weight_memory(*model).c_str(),
               scheduler.cache_bytes() / 1e6);
  // Every result is out; a failed sequence still makes the run fail, so scripts notice.
  if (!failures.empty()) {
    const auto& [index, error] = *failures.begin();
    throw InvalidArgument(std::to_string(failures.size()) + " of " + std::to_string(jobs.size()) +
                          " sequence(s) ended with finish_reason \"error\"; the first, prompt " +
                          std::to_string(index + 1) + ": " + error);
  }
}

}  // namespace

void register_generate(CLI::App& app) {
  auto cmd = std::make_shared<GenerateCommand>();
  CLI::App* sub = app.add_subcommand("generate", "Generate text with the KV-cache engine (one prompt or a batch)");
  sub->add_option("--model", cmd->model, "model directory (a checkpoint, or a training --out directory) or .gguf file")
      ->required();
  sub->add_option_function<std::string>(
      "--prompt",
      [cmd](const std::string& p) {
        cmd->prompt = p;
        cmd->prompt_given = true;
      },
      std::string("text to continue") + kEscapesHelp);
  sub->add_option("--prompts-file", cmd->prompts_file,
                  "JSONL file: one prompt per line (a string or {\"prompt\": ...})");
  sub->add_option("--max-tokens", cmd->max_tokens, "tokens to generate per prompt")->capture_default_str()->check(
      CLI::Range(0, 1000000000));
  // One flag per SamplerParams field (--temperature, --top-k, ...); logit_bias is a map,
  // bound below as repeatable ID=BIAS.
  cmd->sampler.visit([&](const char* name, auto& field, const char* help) {
    if constexpr (!std::is_same_v<std::decay_t<decltype(field)>, std::map<int32_t, float>>)
      sub->add_option(flag_name(name), field, help)->capture_default_str()->group("Sampling");
  });
  sub->add_option("--logit-bias", cmd->logit_bias, "ID=BIAS added to a token's logit (-inf bans it); repeatable")
      ->group("Sampling");
  sub->add_option("--stop", cmd->stop, std::string("stop string (not included in the output); repeatable") + kEscapesHelp)
      ->group("Sampling");
  add_no_escape_flag(*sub, cmd->no_escape);
  sub->add_option("--eos-id", cmd->eos_id,
                  "token that ends generation; -1 = none, -2 = auto (<|endoftext|> of a GPT-2-style tokenizer)")
      ->capture_default_str()
      ->check(CLI::Range(-2, 1 << 30));
  sub->add_flag("--stream", cmd->stream, "print the text as it is produced");
  sub->add_option("--batch-size", cmd->batch_size, "sequences generated at once for --prompts-file")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  sub->add_option("--prefill-tokens", cmd->prefill_tokens,
                  "prompt tokens per forward pass (longer prompts go in chunks)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--context", cmd->context, "KV cache positions per sequence (0 = the model's block size)")
      ->capture_default_str();
  sub->add_option("--kv-type", cmd->kv_type, "KV cache element type: f32, or f16 (half the cache memory, as llama.cpp)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "f16"}));
  sub->add_option("--context-overflow", cmd->overflow,
                  "when a sequence fills its context: stop (finish_reason \"length\") or slide (keep the last half)")
      ->capture_default_str();
  sub->add_flag("--no-mmap", cmd->no_mmap, "read the weights into (huge-page) memory instead of mapping the file");
  add_weights_option(*sub, cmd->weights);
  sub->add_option("--output", cmd->output, "write the JSONL results to this file instead of stdout");
  add_threads_option(*sub, cmd->threads);
  sub->callback([cmd] { run_generate(*cmd); });
}

}  // namespace nexus::cli
