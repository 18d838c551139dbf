# VM status and placement (include/numaksm/vm.h, cgroup.h).
set(NUMAKSM_PROCS_FIXTURE ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/procs/qemu-tcg)

# Parsers on literals; a captured QEMU TCG guest; placement with a fake backend.
numaksm_unit_test(test-vm-parse)
numaksm_unit_test(test-vm-tree)
target_compile_definitions(test-vm-tree PRIVATE PROCS_FIXTURE="${NUMAKSM_PROCS_FIXTURE}")
numaksm_unit_test(test-vm-cli)
target_link_libraries(test-vm-cli PRIVATE PkgConfig::JSONC)
target_compile_definitions(test-vm-cli PRIVATE PROCS_FIXTURE="${NUMAKSM_PROCS_FIXTURE}"
                                               NUMAKSM="$<TARGET_FILE:numaksm-cli>")
add_dependencies(test-vm-cli numaksm-cli)
numaksm_unit_test(test-cgroup)
target_compile_definitions(test-cgroup
                           PRIVATE HOST_FIXTURE="${CMAKE_CURRENT_SOURCE_DIR}/fixtures/debian12-hybrid-1node")

# Host: a QEMU TCG guest with KSM on; status, place and undo on this host's cgroups.
add_test(NAME host/status-qemu
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/test-status-qemu.sh $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:test-ksm-owner>)
set_tests_properties(host/status-qemu PROPERTIES LABELS host TIMEOUT 300 SKIP_RETURN_CODE 77
                                                RESOURCE_LOCK vm-processes)

# Host: a stand-in numaksm-vmm whose guest RAM is a zone; one that exits is gone.
add_executable(test-status-zone host/test-status-zone.c)
target_link_libraries(test-status-zone PRIVATE numaksm_obj PkgConfig::CMOCKA)
add_test(NAME host/status-zone COMMAND test-status-zone)
set_tests_properties(host/status-zone PROPERTIES LABELS host TIMEOUT 120 SKIP_RETURN_CODE 77
                                                RESOURCE_LOCK vm-processes)

# Host: numaksm top in a terminal (tmux): stand-in VMs, redrawn in place,
# sorted by the key pressed, q quits with the terminal put back.
find_program(NUMAKSM_TMUX tmux)
if(NUMAKSM_TMUX)
  add_test(NAME host/top-tmux
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/top-tmux.sh $<TARGET_FILE:numaksm-cli>
                   $<TARGET_FILE:test-pin-fake-vmm>)
  set_tests_properties(host/top-tmux PROPERTIES LABELS host TIMEOUT 120 SKIP_RETURN_CODE 77
                                                RESOURCE_LOCK vm-processes)
endif()

# Host: numaksm estimate on stand-in VMs of known content, then KSM run to
# the end against the prediction; KSM's knobs are put back.
add_test(NAME host/estimate COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/estimate.sh $<TARGET_FILE:numaksm-cli>)
set_tests_properties(host/estimate PROPERTIES LABELS host TIMEOUT 300 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
# Host: numaksm audit --tenants before and after KSM merges two tenants'
# stand-in VMs, and the tuner's tenant guard stopping and restarting KSM.
add_test(NAME host/tenants COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/tenants.sh $<TARGET_FILE:numaksm-cli>)
set_tests_properties(host/tenants PROPERTIES LABELS host TIMEOUT 600 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
