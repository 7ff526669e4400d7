#pragma once
// expect_error<E>(f, part): a test helper for error messages that must name the problem.
#include <gtest/gtest.h>

#include <string>

namespace nexus::testutil {

/// Runs f, which must throw E (or a subclass) whose message contains `part`.
template <class E, class F>
void expect_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << part << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace nexus::testutil
