// sts_readers_test.cpp - the SentEval STS readers on hand-written files and on the shared data:
// formats (empty gold lines, extra STS-B columns, SICK header + CRLF), task-folder resolution,
// missing tasks, and the errors for bad input (file and line named).
#include "data/sts_readers.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "data/sts_suite.h"

namespace simcsepp::data {
namespace {

namespace fs = std::filesystem;

class StsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("simcsepp_sts_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  // Runs `f`, expects simcsepp::Error whose message+where contain every `needle`.
  template <class F>
  void expect_error(F f, std::initializer_list<std::string> needles) {
    try {
      f();
      FAIL() << "no error thrown";
    } catch (const Error& e) {
      const std::string all = std::string(e.what()) + " | " + e.where() + " | " + e.hint();
      for (const auto& n : needles) EXPECT_NE(all.find(n), std::string::npos) << all << "\nmissing: " << n;
      EXPECT_FALSE(e.hint().empty());
    }
  }
  fs::path dir_;
};

TEST_F(StsFiles, StsSubsetSkipsEmptyGoldLinesAndNormalisesBlanks) {
  const auto in = write("STS.input.x.txt", "a  b\tc d\ne f\tg\n h \t i\n");
  const auto gs = write("STS.gs.x.txt", "4.5\n\n1\n");
  const auto s = read_sts_subset(in, gs);
  ASSERT_EQ(s.size(), 2);
  EXPECT_EQ(s.first, (std::vector<std::string>{"a b", "h"}));
  EXPECT_EQ(s.second, (std::vector<std::string>{"c d", "i"}));
  EXPECT_EQ(s.gold, (std::vector<double>{4.5, 1.0}));
}

TEST_F(StsFiles, StsSubsetLineCountMismatchNamesBothFiles) {
  const auto in = write("STS.input.x.txt", "a\tb\nc\td\n");
  const auto gs = write("STS.gs.x.txt", "1\n2\n3\n");
  expect_error([&] { read_sts_subset(in, gs); }, {in, gs, "2 lines", "has 3"});
}

TEST_F(StsFiles, StsSubsetNonNumericScoreNamesFileAndLine) {
  const auto in = write("STS.input.x.txt", "a\tb\nc\td\n");
  const auto gs = write("STS.gs.x.txt", "1\nfour\n");
  expect_error([&] { read_sts_subset(in, gs); }, {gs + ":2", "'four'"});
}

TEST_F(StsFiles, StsSubsetMissingSentenceColumnNamesLine) {
  const auto in = write("STS.input.x.txt", "a\tb\nno tab here\n");
  const auto gs = write("STS.gs.x.txt", "1\n2\n");
  expect_error([&] { read_sts_subset(in, gs); }, {in + ":2", "2 tab-separated"});
}

TEST_F(StsFiles, StsBenchmarkIgnoresExtraColumns) {
  const auto p = write("sts-test.csv",
                       "g\tf\t2012\t0001\t5.000\tone .\ttwo .\n"
                       "g\tf\t2012\t0002\t0.25\tthree\tfour\tsource-a\tsource-b\n");
  const auto s = read_stsbenchmark(p);
  ASSERT_EQ(s.size(), 2);
  EXPECT_EQ(s.first[1], "three");
  EXPECT_EQ(s.second[1], "four");
  EXPECT_EQ(s.gold, (std::vector<double>{5.0, 0.25}));
}

TEST_F(StsFiles, StsBenchmarkMissingColumnAndBadScore) {
  const auto short_row = write("a.csv", "g\tf\t2012\t1\t5\ts1\ts2\ng\tf\t2012\t2\t4\tonly one\n");
  expect_error([&] { read_stsbenchmark(short_row); }, {short_row + ":2", "at least 7", "found 6"});
  const auto bad = write("b.csv", "g\tf\t2012\t1\tx5\ts1\ts2\n");
  expect_error([&] { read_stsbenchmark(bad); }, {bad + ":1", "'x5'"});
}

TEST_F(StsFiles, SickSkipsHeaderAndToleratesCrlf) {
  const auto p = write("SICK_test_annotated.txt",
                       "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\r\n"
                       "1\tA dog runs\tA dog is running\t4.7\tENTAILMENT\r\n"
                       "2\tA cat\tA car\t1.2\tNEUTRAL\r\n");
  const auto s = read_sick(p);
  ASSERT_EQ(s.size(), 2);
  EXPECT_EQ(s.first[0], "A dog runs");
  EXPECT_EQ(s.second[1], "A car");
  EXPECT_EQ(s.gold, (std::vector<double>{4.7, 1.2}));
}

TEST_F(StsFiles, SickErrorsNameFileAndLine) {
  const auto p = write("SICK_trial.txt", "header\n1\ta\tb\t3.0\tX\n2\ta\tb\n");
  expect_error([&] { read_sick(p); }, {p + ":3", "at least 4"});
  const auto q = write("SICK_train.txt", "header\n1\ta\tb\tNaN?\tX\n");
  expect_error([&] { read_sick(q); }, {q + ":2", "relatedness_score"});
}

TEST_F(StsFiles, MissingFileIsAnErrorForReaders) {
  expect_error([&] { read_sick((dir_ / "nope.txt").string()); }, {"nope.txt", "cannot open"});
}

TEST_F(StsFiles, SuiteReportsAbsentTasksAndPartialYearsAsMissing) {
  // A SentEval-style root with STS13 missing one subset and STS-B without a test split.
  write("STS/STS13-en-test/STS.input.FNWN.txt", "a\tb\n");
  write("STS/STS13-en-test/STS.gs.FNWN.txt", "1\n");
  write("STS/STSBenchmark/sts-dev.csv", "g\tf\ty\t1\t3\ta\tb\n");
  const auto root = dir_.string();
  const auto sts13 = load_sts_task(find_sts_task("STS13"), root);
  EXPECT_FALSE(sts13.primary.has_value());
  EXPECT_NE(sts13.missing.find("headlines"), std::string::npos) << sts13.missing;
  ASSERT_TRUE(sts13.parts[0].pairs.has_value());
  EXPECT_EQ(sts13.parts[0].pairs->size(), 1);

  const auto stsb = load_sts_task(find_sts_task("sts-b"), root);
  EXPECT_FALSE(stsb.primary.has_value());
  EXPECT_NE(stsb.missing.find("test"), std::string::npos);
  EXPECT_TRUE(stsb.parts[1].pairs.has_value());  // dev

  const auto sick = load_sts_task(find_sts_task("SICK-R"), root);
  EXPECT_FALSE(sick.primary.has_value());
  EXPECT_NE(sick.missing.find("not found"), std::string::npos);
}

TEST(StsSuite, TaskTableAndNames) {
  const auto& tasks = senteval_sts_tasks();
  ASSERT_EQ(tasks.size(), 7u);
  EXPECT_EQ(find_sts_task("stsbenchmark").short_name, "STS-B");
  EXPECT_EQ(find_sts_task("SICKRelatedness").short_name, "SICK-R");
  // STS13 without SMT.
  EXPECT_EQ(find_sts_task("STS13").parts, (std::vector<std::string>{"FNWN", "headlines", "OnWN"}));
  EXPECT_THROW(find_sts_task("STS17"), Error);
}

TEST(StsSharedData, Sts12AllSettingAndSplitsOnTheRealFiles) {
  const char* env = std::getenv("SIMCSEPP_SHARED_DATA");
  ASSERT_NE(env, nullptr) << "ctest sets SIMCSEPP_SHARED_DATA";
  const std::string root = std::string(env) + "/sts";
  const auto sts12 = load_sts_task(find_sts_task("STS12"), root);
  ASSERT_TRUE(sts12.primary.has_value()) << sts12.missing;
  EXPECT_EQ(sts12.primary->size(), 3108);        // = lines of STS.gs.ALL.txt
  EXPECT_EQ(sts12.parts[0].pairs->size(), 750);  // MSRpar
  const auto stsb = load_sts_task(find_sts_task("STSBenchmark"), root);
  EXPECT_EQ(stsb.parts[0].pairs->size(), 5749);
  EXPECT_EQ(stsb.parts[1].pairs->size(), 1500);
  EXPECT_EQ(stsb.parts[1].pairs->first[0], "a man with a hard hat is dancing .");
  EXPECT_DOUBLE_EQ(stsb.parts[1].pairs->gold[0], 5.0);
  const auto sick = load_sts_task(find_sts_task("SICKRelatedness"), root);
  EXPECT_EQ(sick.parts[0].pairs->size(), 4500);
  EXPECT_EQ(sick.parts[1].pairs->size(), 500);
  EXPECT_DOUBLE_EQ(sick.parts[0].pairs->gold[0], 4.5);
  EXPECT_FALSE(sick.primary.has_value());  // SICK_test_annotated.txt is not shipped here
}

}  // namespace
}  // namespace simcsepp::data
