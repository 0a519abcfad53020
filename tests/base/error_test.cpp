// Tests of the shared error type: users see where and what to do.
#include "base/error.h"

#include <gtest/gtest.h>

#include "base/log.h"

namespace simcsepp {

TEST(Error, MessageNamesPlaceAndHint) {
  Error e("vocab has 30522 tokens, shard was made with 28996", "corpus/shard-00001.h5",
          "re-run `simcsepp prep` with the model's vocab.txt");
  const std::string msg = e.what();
  EXPECT_NE(msg.find("corpus/shard-00001.h5: vocab has"), std::string::npos) << msg;
  EXPECT_NE(msg.find("HINT: re-run"), std::string::npos) << msg;
  EXPECT_EQ(e.where(), "corpus/shard-00001.h5");
}

TEST(Error, InternalCheckCarriesSourceLocation) {
  try {
    SIMCSEPP_CHECK(1 + 1 == 3, "arithmetic");
    FAIL() << "check did not throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("error_test.cpp"), std::string::npos) << e.what();
  }
}

TEST(Log, IdentityAppearsInWhereAmI) {
  log::set_identity(3, 8, "node7");
  EXPECT_EQ(log::where_am_i(), "rank 3/8 on node7");
  EXPECT_FALSE(log::enabled(log::Level::kInfo));  // non-zero ranks are quiet by default
  EXPECT_TRUE(log::enabled(log::Level::kWarn));
  log::set_identity(0, 1, "");
}

}  // namespace simcsepp
