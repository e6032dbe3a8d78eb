// The canary of .ci/concurrency_checks.sh: two deliberate data races, one between std::threads and one
// inside an OpenMP parallel loop, that ThreadSanitizer must report with the suppressions
// (.ci/tsan.supp) and libarcher in place. A clean run of nnuc's tests then means the tool was
// watching both kinds of thread, not that the suppressions hid everything.
#include <cstdio>
#include <cstring>
#include <thread>

namespace {
int shared_total = 0;  // written by two threads without synchronization, on purpose
}

int main(int argc, char** argv) {
  const char* mode = argc == 2 ? argv[1] : "";
  if (std::strcmp(mode, "threads") == 0) {
    std::thread first([] {
      for (int i = 0; i < 1000; ++i) shared_total += i;
    });
    std::thread second([] {
      for (int i = 0; i < 1000; ++i) shared_total -= i;
    });
    first.join();
    second.join();
  } else if (std::strcmp(mode, "openmp") == 0) {
#pragma omp parallel for num_threads(2) schedule(static, 1)
    for (int i = 0; i < 1000; ++i) shared_total += i;
  } else {
    std::fprintf(stderr, "usage: tsan_canary threads|openmp\n");
    return 2;
  }
  std::printf("%d\n", shared_total);
  return 0;
}
