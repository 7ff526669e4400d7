#pragma once
// Stop strings matched across token boundaries.
//
// Generated text arrives one decoded token piece at a time, and a stop string may span
// several pieces ("\n\nUser:" = "\n" + "\nUs" + "er:"). StopMatcher buffers only what it
// must: each feed() returns the text that can no longer be part of a stop string, holds back
// the longest tail that is still a prefix of one, and reports a stop when one completes.
// Neither the stop string nor anything after it is ever returned. Matching is on bytes, so
// it works for any UTF-8 text (a held-back tail may end inside a multi-byte character).
#include <string>
#include <string_view>
#include <vector>

namespace nexus {

/// Incremental matcher of a set of stop strings over a stream of text pieces.
class StopMatcher {
 public:
  /// What one feed() produced.
  struct Result {
    std::string text;      // safe to emit now (may be empty)
    bool stopped = false;  // a stop string completed; generation should end
    std::string stop;      // the stop string that matched (when stopped)
  };

  /// A matcher for `stops` (may be empty: nothing ever stops); InvalidArgument for an
  /// empty stop string.
  explicit StopMatcher(std::vector<std::string> stops = {});

  /// Adds the next piece. When several stop strings complete, the one ending first wins, so
  /// the outcome does not depend on how the text was split into pieces. After a stop, further
  /// pieces are ignored and return nothing.
  Result feed(std::string_view piece);
  /// Ends the stream without a stop (EOS, max tokens): returns the held-back text.
  std::string flush();
  /// True once a stop string has matched.
  bool stopped() const { return stopped_; }
  /// Text currently held back as a possible start of a stop string.
  const std::string& pending() const { return pending_; }

 private:
  // Length of the longest suffix of pending_ that is a proper prefix of some stop string.
  size_t held_back_length() const;

  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace nexus
