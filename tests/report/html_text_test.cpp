// html_text_test.cpp - escaping of text put into a page and the exact numbers tests read back.
#include "report/html_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

namespace simcsepp::report {
namespace {

TEST(HtmlText, EscapesEveryMarkupCharacter) {
  EXPECT_EQ(escape_html("<script>alert(\"x\" & 'y')</script>"),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;");
  EXPECT_EQ(escape_html("plain text/ok"), "plain text/ok");
  EXPECT_EQ(escape_html("&amp;"), "&amp;amp;");  // escaping twice is visible, never lost
}

TEST(HtmlText, ExactNumbersRoundTrip) {
  for (const double v : {0.0, 3.0, 0.1, 1.0 / 3.0, 2.5e-05, 3e-05 * (1 - 1.0 / 7), 1e300, -123.456, 84.6834}) {
    const std::string s = exact_number(v);
    EXPECT_EQ(std::strtod(s.c_str(), nullptr), v) << s;
  }
  EXPECT_EQ(exact_number(3.0), "3");
  EXPECT_EQ(exact_number(0.1), "0.1");
  EXPECT_EQ(exact_number(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(exact_number(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(exact_number(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(HtmlText, DisplayNumbers) {
  EXPECT_EQ(display_number(84.68341, 4), "84.68");
  EXPECT_EQ(display_number(3e-05, 4), "3e-05");
  EXPECT_EQ(display_number(std::nan(""), 4), "-");
}

}  // namespace
}  // namespace simcsepp::report
