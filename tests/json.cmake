# The JSON vocabulary (docs/json.md): the schemas in docs/schema/ are what
# generate.py makes and are valid themselves, and every --json output, error
# line and log line validates against them (tests/validate-json.py).
add_test(NAME unit/json-schemas-generated COMMAND ${PROJECT_SOURCE_DIR}/docs/schema/generate.py --check)
add_test(NAME unit/json-schemas COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/validate-json.py --check)
set_tests_properties(unit/json-schemas-generated PROPERTIES LABELS unit TIMEOUT 60)
set_tests_properties(unit/json-schemas PROPERTIES LABELS unit TIMEOUT 60)

# Captured trees, topologies, a stand-in numaksm-vmm and error lines; then
# the live host with stand-in VMMs (pin apply, place).
add_test(NAME unit/json-outputs
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/json-outputs.sh unit $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:numaksm-vmm> $<TARGET_FILE:fake-vmm>)
set_tests_properties(unit/json-outputs PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77)
add_test(NAME host/json-outputs
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/json-outputs.sh host $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:numaksm-vmm> $<TARGET_FILE:fake-vmm>
                 $<TARGET_FILE:test-pin-fake-vmm>)
set_tests_properties(host/json-outputs PROPERTIES LABELS host TIMEOUT 300 SKIP_RETURN_CODE 77
                                                  RESOURCE_LOCK vm-processes)
