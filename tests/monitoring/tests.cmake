# Monitoring tests beyond the GoogleTest binary test_monitoring: a driver that stands in for the
# trainer (synthetic steps through TrainingMetrics), a service test against a real Prometheus
# (scrape via file_sd, alert firing, promtool checks), and Python checks of the dashboard/rule
# metric names and of the embedding diagnostics against torch.

add_executable(monitoring_metrics_driver ${CMAKE_CURRENT_SOURCE_DIR}/monitoring/metrics_driver.cpp)
target_link_libraries(monitoring_metrics_driver PRIVATE simcsepp_monitoring simcsepp_warnings)
set_target_properties(monitoring_metrics_driver PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

if(SIMCSEPP_HAVE_PROMETHEUS_CPP)
  # A real Prometheus (Debian's prometheus package, installed by scripts/setup.sh) scrapes the
  # driver; bounded to well under 2 minutes, loopback only.
  add_test(NAME monitoring.prometheus_service
    COMMAND ${SIMCSEPP_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/monitoring/prometheus_service_test.py)
  set_tests_properties(monitoring.prometheus_service PROPERTIES
    ENVIRONMENT "${SIMCSEPP_TEST_ENV}" TIMEOUT 180)
  # The same Prometheus scrapes a real 2-rank CPU training run (mpirun -np 2 simcsepp train):
  # promtool-clean live endpoints, every dashboard/rule metric fed on each rank, stored loss,
  # throughput and dev-score series for both ranks. PROCESSORS 2: its two ranks use both cores.
  add_test(NAME monitoring.prometheus_training
    COMMAND ${SIMCSEPP_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/monitoring/prometheus_training_test.py)
  string(JOIN " " _monitoring_mpirun ${SIMCSEPP_MPIRUN})  # a ';' would split the ENVIRONMENT list
  set_tests_properties(monitoring.prometheus_training PROPERTIES
    ENVIRONMENT "${SIMCSEPP_TEST_ENV};SIMCSEPP_MPIRUN=${_monitoring_mpirun}" TIMEOUT 240 PROCESSORS 2)
else()
  foreach(_t monitoring.prometheus_service monitoring.prometheus_training)
    simcsepp_missing_dependency_test(${_t} "prometheus-cpp (the /metrics endpoint)"
      "apt-get install prometheus-cpp-dev (scripts/setup.sh), or scripts/device-build.sh on the GPU machine")
  endforeach()
endif()
simcsepp_add_python_test(monitoring.names_check monitoring_names_check.py)
simcsepp_add_python_test(monitoring.diagnostics_parity monitoring_diagnostics_parity.py)
