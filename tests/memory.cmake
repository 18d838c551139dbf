numaksm_unit_test(test-zone-spec)

add_executable(test-zone host/test-zone.c)
target_link_libraries(test-zone PRIVATE numaksm_obj PkgConfig::CMOCKA)
target_include_directories(test-zone PRIVATE ${PROJECT_SOURCE_DIR}/src/basic ${PROJECT_SOURCE_DIR}/memory)
add_test(NAME host/zone COMMAND test-zone)
set_tests_properties(host/zone PROPERTIES LABELS host TIMEOUT 300 SKIP_RETURN_CODE 77)

add_test(NAME host/hugepages-cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/hugepages-cli.sh $<TARGET_FILE:numaksm-cli>)
set_tests_properties(host/hugepages-cli PROPERTIES LABELS host TIMEOUT 120 SKIP_RETURN_CODE 77)
