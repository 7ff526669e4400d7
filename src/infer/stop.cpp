#include "infer/stop.h"

#include <algorithm>

#include "core/error.h"

namespace nexus {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const auto& s : stops_) require(!s.empty(), "stop strings must not be empty");
}

StopMatcher::Result StopMatcher::feed(std::string_view piece) {
  Result r;
  if (stopped_) return r;
  pending_.append(piece);
  // pending_ never contains a whole stop string before this piece, and text already emitted
  // cannot begin one (otherwise it would have been held back), so a stop can only start here.
  // The stop that ends first wins (ties: the one starting first), which is what feeding the
  // same text byte by byte would find, so the result never depends on how text is split.
  size_t first = std::string::npos, first_end = std::string::npos;
  for (const auto& s : stops_) {
    const size_t at = pending_.find(s);
    if (at == std::string::npos) continue;
    if (at + s.size() < first_end || (at + s.size() == first_end && at < first)) {
      first = at;
      first_end = at + s.size();
      r.stop = s;
    }
  }
  if (first != std::string::npos) {
    r.text = pending_.substr(0, first);
    r.stopped = stopped_ = true;
    pending_.clear();
    return r;
  }
  r.stop.clear();
  const size_t keep = held_back_length();
  r.text = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return r;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

size_t StopMatcher::held_back_length() const {
  size_t best = 0;
  for (const auto& s : stops_) {
    // Try the longest candidate first; a suffix of length n matching s's first n bytes.
    for (size_t n = std::min(s.size() - 1, pending_.size()); n > best; --n)
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        best = n;
        break;
      }
  }
  return best;
}

}  // namespace nexus
