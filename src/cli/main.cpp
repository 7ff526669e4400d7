// nexus: one binary for the whole life of a small GPT. main() only parses, dispatches and
// turns errors into one message line and an exit code.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <new>

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
  nexus::cli::register_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
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
