numaksm_unit_test(test-ksm)
target_compile_definitions(test-ksm PRIVATE FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
