# vcpu/ benchmark: planning 1,000 VMs of 4 vCPUs on a 512-PU, 8-node
# synthetic host; target under 1 s.  Its own program (public API only), so
# numaksm-bench's command table stays untouched.
add_executable(numaksm-bench-pin bench-pin.c)
target_link_libraries(numaksm-bench-pin PRIVATE numaksm)
if(BUILD_TESTING)
  # A smoke test that the benchmark runs; its speed target (1,000 VMs under
  # 1 s) is checked by running the benchmark itself, not by a timed test.
  add_test(NAME bench/pin-plan COMMAND numaksm-bench-pin --vms 100 --max-ms 60000)
  set_tests_properties(bench/pin-plan PROPERTIES LABELS bench TIMEOUT 60)
endif()
