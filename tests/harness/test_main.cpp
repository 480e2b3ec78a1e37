// main() of every unit-test binary: fresh buffers are NaN-poisoned so a kernel that
// reads memory nobody wrote produces NaN and fails its comparison.
#include <gtest/gtest.h>

#include "attnlab/core/parallel.h"
#include "attnlab/core/storage.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  attnlab::set_poison_fresh_buffers(true);
  attnlab::init_threads();
  return RUN_ALL_TESTS();
}
