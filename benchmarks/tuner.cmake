# policy/ benchmark: KSM savings on one fleet under each strategy
# (numaksm-bench ksm).  Only a --quick smoke run is a test; the targets are
# checked by running the benchmark itself (results in benchmarks/ksm/).
list(APPEND NUMAKSM_BENCH_SOURCES bench-ksm.c bench-ksm-fleet.c)
if(BUILD_TESTING)
  add_test(NAME bench/ksm-quick
           COMMAND numaksm-bench ksm --quick --window 5s --out ${CMAKE_CURRENT_BINARY_DIR}/ksm-quick
                   --numaksm $<TARGET_FILE:numaksm-cli>)
  set_tests_properties(bench/ksm-quick PROPERTIES LABELS bench TIMEOUT 900 SKIP_RETURN_CODE 77
                                                 RUN_SERIAL TRUE)
endif()
