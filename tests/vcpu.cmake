# vcpu/ tests: topology, planner, assignment state, applying to VMM threads.
set(NUMAKSM_TOPOLOGIES ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/topologies)

# Planner invariants on synthetic and XML topologies (public API only).
numaksm_unit_test(test-pin-plan)
target_compile_definitions(test-pin-plan PRIVATE TOPOLOGY_DIR="${NUMAKSM_TOPOLOGIES}")

# The planner's properties over every topology of the corpus (XML exports
# and captured trees, each with its hand-written NAME.truth) and a grid of
# requests; prints the number of plans checked and fails on any violation.
numaksm_unit_test(test-pin-props)
target_compile_definitions(test-pin-props PRIVATE TOPOLOGY_DIR="${NUMAKSM_TOPOLOGIES}")
set_tests_properties(unit/test-pin-props PROPERTIES TIMEOUT 300)

# Internal parsers on literals; VMM threads and the state on a fake host tree.
foreach(test test-pin-parse test-pin-state)
  numaksm_unit_test(${test})
  target_include_directories(${test} PRIVATE ${PROJECT_SOURCE_DIR}/vcpu)
endforeach()

# Host: pin a child's threads on the live kernel and read them back.
add_executable(test-pin-live host/test-pin-live.c)
target_link_libraries(test-pin-live PRIVATE numaksm_obj PkgConfig::CMOCKA)
target_include_directories(test-pin-live PRIVATE ${PROJECT_SOURCE_DIR}/src/basic ${PROJECT_SOURCE_DIR}/vcpu)
add_test(NAME host/pin-live COMMAND test-pin-live)
set_tests_properties(host/pin-live PROPERTIES LABELS host TIMEOUT 120 SKIP_RETURN_CODE 77
                                             RESOURCE_LOCK vm-processes)

# Host: `numaksm pin apply|show` end to end on stand-in VMMs.
add_executable(test-pin-fake-vmm host/test-pin-fake-vmm.c)
find_package(Threads REQUIRED)
target_link_libraries(test-pin-fake-vmm PRIVATE Threads::Threads)
add_test(NAME host/pin-cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/test-pin-cli.sh $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:test-pin-fake-vmm>)
set_tests_properties(host/pin-cli PROPERTIES LABELS host TIMEOUT 120 SKIP_RETURN_CODE 77
                                            RESOURCE_LOCK vm-processes)

# The CLI without a host: usage errors, refusals, golden plans.
add_test(NAME unit/pin-cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-pin-cli.sh $<TARGET_FILE:numaksm-cli>
                 ${NUMAKSM_TOPOLOGIES} ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-pin-cli.golden)
set_tests_properties(unit/pin-cli PROPERTIES LABELS unit TIMEOUT 60)

# Host: one VM model: status and pin find every kind's stand-in alike.
add_test(NAME host/vm-lookup
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/vm-lookup.sh $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:test-pin-fake-vmm>)
# Processes named like VMMs: tests that look VMs up by program name take turns.
set_tests_properties(host/vm-lookup PROPERTIES LABELS host TIMEOUT 120 SKIP_RETURN_CODE 77
                                               RESOURCE_LOCK vm-processes)

# Host: look-alikes (a user's program named like a VM) are shown apart and
# never acted on; names are escaped.
add_test(NAME host/vm-trust
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/vm-trust.sh $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:test-pin-fake-vmm>)
set_tests_properties(host/vm-trust PROPERTIES LABELS host TIMEOUT 120 SKIP_RETURN_CODE 77
                                              RESOURCE_LOCK vm-processes)

# Host: the runtime directory from every command: one mode, refusals, planted files.
add_test(NAME host/rundir-cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/rundir-cli.sh $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:test-pin-fake-vmm>)
set_tests_properties(host/rundir-cli PROPERTIES LABELS host TIMEOUT 120 SKIP_RETURN_CODE 77
                                                RESOURCE_LOCK vm-processes)

# `pin plan --format libvirt|virsh`: golden elements and commands, checked
# against libvirt's domain schema.
add_test(NAME unit/pin-libvirt
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-pin-libvirt.sh $<TARGET_FILE:numaksm-cli>
                 ${NUMAKSM_TOPOLOGIES} ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-pin-libvirt.golden)
set_tests_properties(unit/pin-libvirt PROPERTIES LABELS unit TIMEOUT 60)

# `libvirt apply` on libvirt's in-process test driver: merge, refusals, errors.
add_test(NAME unit/libvirt-cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-libvirt-cli.sh $<TARGET_FILE:numaksm-cli>
                 ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/libvirt
                 ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-libvirt-cli.golden)
set_tests_properties(unit/libvirt-cli PROPERTIES LABELS unit TIMEOUT 60)

# Host: a QEMU TCG domain under the real libvirtd (started here when it does
# not run): libvirt apply's refusals, then the plan holding once it runs.
add_test(NAME host/libvirt
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/test-libvirt.sh $<TARGET_FILE:numaksm-cli>)
set_tests_properties(host/libvirt PROPERTIES LABELS host TIMEOUT 300 SKIP_RETURN_CODE 77
                                             RESOURCE_LOCK vm-processes)

# The libvirt hook, as installed, with a stand-in numaksm.
add_test(NAME unit/libvirt-hook
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-libvirt-hook.sh
                 ${PROJECT_BINARY_DIR}/dist/libvirt/hooks/numaksm)
set_tests_properties(unit/libvirt-hook PROPERTIES LABELS unit TIMEOUT 60)
