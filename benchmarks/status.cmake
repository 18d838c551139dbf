# Status benchmark: reading 200 VM-like processes as `numaksm status` does;
# target well under 1 s.  Its own program (public API only).
add_executable(numaksm-bench-status bench-status.c)
target_link_libraries(numaksm-bench-status PRIVATE numaksm Threads::Threads)
if(BUILD_TESTING)
  # A smoke test that the benchmark runs and finds its VMs; its speed target
  # is checked by running the benchmark itself.
  add_test(NAME bench/status COMMAND numaksm-bench-status --vms 20 --rounds 2 --max-ms 60000)
  set_tests_properties(bench/status PROPERTIES LABELS bench TIMEOUT 120)
endif()
