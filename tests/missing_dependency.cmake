# missing_dependency.cmake - the body of a test whose dependency was not found at configure time
# (registered by simcsepp_missing_dependency_test in tests/CMakeLists.txt): fail, saying why.
message(FATAL_ERROR "${TEST_NAME}: cannot run: ${DEPENDENCY} was not found when this build was configured.\n"
                    "HINT: ${INSTALL}; or configure with -DSIMCSEPP_ALLOW_MISSING_DEPS=ON to leave such tests "
                    "out (developer builds only: the suite is then smaller than the README's).")
