# report.html (report/): the GoogleTest binary test_report (parsing, chart geometry, escaping,
# seed statistics) is registered by tests/CMakeLists.txt; here the pages of real runs in a real
# headless browser - Debian's chromium, installed by scripts/setup.sh:
#   report.browser: a 2-rank tiny run (mpirun -np 2, so PROCESSORS 2) writes report.html at its
#     end with per-rank timings; every drawn point equals metrics.jsonl, no console message, a
#     non-blank screenshot, negative controls; `simcsepp report RUN` rewrites the same bytes;
#   report.compare: three runs (two seeds of simcse++, one simcse) -> one comparison page whose
#     seed mean/std equal numpy's, overlaid curves, refusal of a directory without metrics.jsonl.
find_program(SIMCSEPP_CHROMIUM NAMES chromium chromium-browser)
if(SIMCSEPP_CHROMIUM)
  simcsepp_add_python_test(report.browser report_browser.py)
  string(JOIN " " _report_mpirun ${SIMCSEPP_MPIRUN})  # a ';' would split the ENVIRONMENT list
  set_property(TEST report.browser APPEND PROPERTY ENVIRONMENT "SIMCSEPP_MPIRUN=${_report_mpirun}")
  set_tests_properties(report.browser PROPERTIES PROCESSORS 2 TIMEOUT 300)
  simcsepp_add_python_test(report.compare report_compare.py)
  set_tests_properties(report.compare PROPERTIES TIMEOUT 300)
else()
  foreach(_t report.browser report.compare)
    simcsepp_missing_dependency_test(${_t} "chromium (headless browser for the report tests)"
      "apt-get install chromium (scripts/setup.sh installs it), then re-run cmake")
  endforeach()
endif()
