// nexus: one binary for the whole life of a small GPT. main() only parses, dispatches and
// turns errors into one message line and an exit code.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <new>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "core/parallel.h"

namespace nexus::cli {

void add_threads_option(CLI::App& cmd, int& threads) {
  threads = available_cores();
  cmd.add_option("--threads", threads, "worker threads (default: the cores this process may use)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
}

void apply_threads(int threads) { set_num_threads(threads); }

}  // namespace nexus::cli

int main(int argc, char** argv) {
  CLI::App app{"nexus: train, evaluate and sample small GPT language models on the CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "nexus 0.1.0");
  nexus::cli::register_prepare(app);
  nexus::cli::register_train(app);
  nexus::cli::register_sample(app);
  nexus::cli::register_generate(app);
  nexus::cli::register_eval(app);
  nexus::cli::register_init(app);
  nexus::cli::register_bench(app);
  nexus::cli::register_tokenizer(app);
  nexus::cli::register_export(app);
  nexus::cli::register_quantize(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // A usage error: one line like every other error, exit status 2 (CLI11's own codes exceed 100).
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    if (app.get_subcommands().empty()) {
      // CLI11 would only say "A subcommand is required"; name what it did not understand.
      const std::string first = argc > 1 ? argv[1] : "";
      message = first.empty() ? "a command is required"
                : first[0] == '-' ? "unknown option '" + first + "' (options go after the command)"
                                  : "unknown command '" + first + "'";
      message += "; the commands are:";
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) message += " " + sub->get_name();
    }
    std::fprintf(stderr, "nexus: error: %s (see --help)\n", message.c_str());
    return 2;
  } catch (const nexus::cli::ExitStatus& e) {
    std::fflush(stdout);
    return e.code;
  } catch (const nexus::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "nexus: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "nexus: error: out of memory (try a smaller batch, block or model)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nexus: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
