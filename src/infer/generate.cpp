#include "infer/generate.h"

#include "core/error.h"

namespace nexus {

GenerationResult result_of(const Sequence& s) {
  GenerationResult r;
  r.tokens = s.generated();
  r.text = s.text();
  r.finish_reason = s.finish_reason();
  r.stop = s.stop_string();
  r.slides = s.slides();
  r.timings = s.timings();
  return r;
}

GenerationResult generate(std::shared_ptr<const InferenceModel> model, std::vector<int32_t> prompt,
                          const GenerationParams& params,
                          const std::function<void(int32_t, std::string_view)>& on_token, int context) {
  SchedulerOptions options;
  options.max_batch = 1;
  options.context = context;
  Scheduler scheduler(std::move(model), options);
  if (on_token) scheduler.on_token([&](const Sequence&, int32_t t, std::string_view text) { on_token(t, text); });
  scheduler.submit(std::move(prompt), params);
  scheduler.run();
  auto done = scheduler.take_finished();
  require(done.size() == 1, "generate: the request did not finish");
  if (done[0]->finish_reason() == FinishReason::Error) throw InvalidArgument(done[0]->error());
  return result_of(*done[0]);
}

}  // namespace nexus
