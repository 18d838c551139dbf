# The Prometheus exporter (tools/cmd-exporter.c, tools/metrics.c) and its
# rules (dist/prometheus), checked with Debian's promtool and Prometheus.
find_program(PROMTOOL promtool)
find_program(PROMETHEUS prometheus)
if(PROMTOOL)
  # The rules load, and fire (or not) on the series of their tests.
  add_test(NAME unit/prometheus-rules
           COMMAND sh -c "${PROMTOOL} check rules numaksm-rules.yml && ${PROMTOOL} test rules numaksm-rules.test.yml"
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/dist/prometheus)
  set_tests_properties(unit/prometheus-rules PROPERTIES LABELS unit)
  # The exposition of captured hosts: valid for promtool, and what status says.
  add_test(NAME unit/exporter-cli
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/unit/exporter-cli.sh $<TARGET_FILE:numaksm-cli> ${PROMTOOL}
                   ${CMAKE_CURRENT_SOURCE_DIR}/fixtures)
  set_tests_properties(unit/exporter-cli PROPERTIES LABELS unit)
  # The Grafana dashboard: every query parses and names the exporter's metrics.
  add_test(NAME unit/grafana-dashboard
           COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/check-dashboard.py ${PROMTOOL} $<TARGET_FILE:numaksm-cli>
                   ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/lab-4node ${PROJECT_SOURCE_DIR})
  set_tests_properties(unit/grafana-dashboard PROPERTIES LABELS unit)
endif()
if(PROMTOOL AND PROMETHEUS)
  # Host: Prometheus scrapes this host (a QEMU TCG guest, KSM merged) and a
  # captured one; hostile clients; KSM put back by its owner.
  add_test(NAME host/exporter-prometheus
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/exporter-prometheus.py $<TARGET_FILE:numaksm-cli>
                   $<TARGET_FILE:test-ksm-owner> ${PROJECT_SOURCE_DIR})
  set_tests_properties(host/exporter-prometheus PROPERTIES LABELS host TIMEOUT 400 SKIP_RETURN_CODE 77
                                                          RESOURCE_LOCK vm-processes)
endif()
