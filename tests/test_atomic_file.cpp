// Tests of crash-safe file replacement, whole-file reads and memory maps.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/mmap.h"

namespace fs = std::filesystem;
using namespace nexus;

namespace {

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("nexus_test_atomic_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Names of the files in the test directory, sorted.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path dir_;
};

}  // namespace

TEST_F(AtomicFileTest, WritesAndReplaces) {
  write_file_atomic(path("f"), "hello");
  EXPECT_EQ(read_file(path("f")), "hello");
  write_file_atomic(path("f"), std::string_view("a\0b", 3));
  EXPECT_EQ(read_file(path("f")), std::string("a\0b", 3));
  write_file_atomic(path("f"), "");
  EXPECT_EQ(read_file(path("f")), "");
  EXPECT_EQ(listing(), std::vector<std::string>{"f"});
}

TEST_F(AtomicFileTest, CallbackVariantsWriteLargeFiles) {
  std::string expected;
  for (int i = 0; i < 300000; ++i) expected += std::to_string(i) + ",";
  write_file_atomic(path("big"), std::function<void(std::FILE*)>([&](std::FILE* f) {
                      std::fwrite(expected.data(), 1, expected.size(), f);
                    }));
  EXPECT_EQ(read_file(path("big")), expected);
  write_file_atomic_stream(path("s"), [](std::ostream& os) {
    for (int i = 0; i < 300000; ++i) os << i << ",";
  });
  EXPECT_EQ(read_file(path("s")), expected);
  EXPECT_EQ(listing(), (std::vector<std::string>{"big", "s"}));
}

TEST_F(AtomicFileTest, ThrowingWriterKeepsOldContentAndRemovesTemp) {
  write_file_atomic(path("f"), "old");
  EXPECT_THROW(write_file_atomic(path("f"), std::function<void(std::FILE*)>([](std::FILE* f) {
                                   std::fputs("partial new content", f);
                                   throw std::runtime_error("writer failed");
                                 })),
               std::runtime_error);
  EXPECT_EQ(read_file(path("f")), "old");
  EXPECT_THROW(write_file_atomic_stream(path("f"),
                                        [](std::ostream& os) {
                                          os << "partial";
                                          throw IoError("boom");
                                        }),
               IoError);
  EXPECT_EQ(read_file(path("f")), "old");
  EXPECT_EQ(listing(), std::vector<std::string>{"f"});
}

TEST_F(AtomicFileTest, RenameOntoDirectoryFailsCleanly) {
  fs::create_directories(path("target"));
  write_file_atomic(path("target/inner"), "keep");
  try {
    write_file_atomic(path("target"), "new");
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(path("target")), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(path("target/inner")), "keep");
  EXPECT_EQ(listing(), std::vector<std::string>{"target"});
}

TEST_F(AtomicFileTest, MissingDirectoryIsIoError) {
  EXPECT_THROW(write_file_atomic(path("no/such/dir/f"), "x"), IoError);
  EXPECT_FALSE(fs::exists(path("no")));
}

TEST_F(AtomicFileTest, UnwritableDirectoryKeepsOldContent) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: directory permissions are not enforced";
  fs::create_directories(path("ro"));
  write_file_atomic(path("ro/f"), "old");
  fs::permissions(path("ro"), fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_THROW(write_file_atomic(path("ro/f"), "new"), IoError);
  fs::permissions(path("ro"), fs::perms::owner_all);
  EXPECT_EQ(read_file(path("ro/f")), "old");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path("ro"))) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"f"});
}

TEST_F(AtomicFileTest, ReadFileErrorsNameThePath) {
  try {
    read_file(path("missing"));
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(path("missing")), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_file(dir_.string()), IoError);
}

TEST_F(AtomicFileTest, EnsureDirectory) {
  ensure_directory(path("a/b/c"));
  EXPECT_TRUE(fs::is_directory(path("a/b/c")));
  ensure_directory(path("a/b/c"));  // idempotent
  ensure_directory("");
  write_file_atomic(path("file"), "x");
  EXPECT_THROW(ensure_directory(path("file")), IoError);
  EXPECT_THROW(ensure_directory(path("file/sub")), IoError);
}

TEST_F(AtomicFileTest, MappedFile) {
  write_file_atomic(path("m"), "mapped bytes");
  MappedFile m(path("m"));
  EXPECT_EQ(m.size(), 12u);
  EXPECT_EQ(m.view(), "mapped bytes");
  EXPECT_EQ(m.path(), path("m"));
  MappedFile moved = std::move(m);
  EXPECT_EQ(moved.view(), "mapped bytes");
  EXPECT_EQ(m.size(), 0u);
  // Replacing the file atomically does not disturb an existing map.
  write_file_atomic(path("m"), "other");
  EXPECT_EQ(moved.view(), "mapped bytes");
  MappedFile again;
  again = MappedFile(path("m"));
  EXPECT_EQ(again.view(), "other");

  write_file_atomic(path("empty"), "");
  MappedFile e(path("empty"));
  EXPECT_EQ(e.size(), 0u);
  EXPECT_EQ(e.data(), nullptr);
  EXPECT_THROW(MappedFile(path("missing")), IoError);
  EXPECT_THROW(MappedFile(dir_.string()), IoError);
}
