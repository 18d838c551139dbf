# policy/ tuner tests: the control law on simulated and recorded counter
# traces, KSM knob validation and rollback, the policy file, and the
# tuner daemon on the live kernel.
foreach(test test-tuner test-tuner-trace test-tuner-ksm test-conf test-tenants)
  numaksm_unit_test(${test})
  target_include_directories(${test} PRIVATE ${PROJECT_SOURCE_DIR}/policy)
endforeach()
target_compile_definitions(test-conf PRIVATE EXAMPLE_CONF="${PROJECT_SOURCE_DIR}/dist/numaksm.conf")
target_compile_definitions(test-tuner-ksm PRIVATE NUMAKSM_CLI="$<TARGET_FILE:numaksm-cli>")
add_dependencies(test-tuner-ksm numaksm-cli)

# Host: the tuner daemon on real KSM with stand-in VMs (it writes KSM's
# knobs and puts them back, on failure too).
add_executable(test-tuner-fleet host/test-tuner-fleet.c)
add_test(NAME host/tuner-live
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/test-tuner-live.sh $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:test-tuner-fleet>)
set_tests_properties(host/tuner-live PROPERTIES LABELS host TIMEOUT 300 SKIP_RETURN_CODE 77
                                                RUN_SERIAL TRUE)

# Host: KSM's knobs are never left changed: the tuner killed (SIGKILL)
# before each of its writes, a program without a loop of its own stopped by
# each signal and killed, one owner per host whatever the runtime directory.
add_executable(test-ksm-owner host/test-ksm-owner.c)
target_link_libraries(test-ksm-owner PRIVATE numaksm_obj)
add_test(NAME host/ksm-owner
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/ksm-owner.sh $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:test-ksm-owner> $<TARGET_FILE:test-pin-fake-vmm>)
set_tests_properties(host/ksm-owner PROPERTIES LABELS host TIMEOUT 300 SKIP_RETURN_CODE 77
                                               RUN_SERIAL TRUE)

# Host: a soak of the long runners (the tuner placing VMs, status --watch)
# while VM-like processes, mergeable processes and zones come and go: they
# exit cleanly (no leak under ASan), with as many descriptors as before and
# a flat RSS.  NUMAKSM_SOAK_SECONDS makes it longer by hand.
add_test(NAME host/soak
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/host/soak.sh $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:test-pin-fake-vmm> $<TARGET_FILE:test-tuner-fleet>)
set_tests_properties(host/soak PROPERTIES LABELS host TIMEOUT 300 SKIP_RETURN_CODE 77
                                          RUN_SERIAL TRUE)

# The Debian package (cpack -G DEB) unpacked into a fresh root: its
# binaries, unit, man pages and files, and `numaksm check` run from there.
find_program(NUMAKSM_DPKG_DEB dpkg-deb)
find_program(NUMAKSM_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(NUMAKSM_DPKG_DEB AND NUMAKSM_DPKG_SHLIBDEPS AND GO_MD2MAN)
  add_test(NAME unit/deb
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/deb-check.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}
                   ${CMAKE_INSTALL_PREFIX} ${CMAKE_INSTALL_BINDIR} ${CMAKE_INSTALL_LIBDIR}
                   ${CMAKE_INSTALL_MANDIR} ${NUMAKSM_BASH_COMPLETION_DIR})
  set_tests_properties(unit/deb PROPERTIES LABELS unit TIMEOUT 300)
else()
  message(STATUS "dpkg-deb, dpkg-shlibdeps or go-md2man missing: no unit/deb test")
endif()

# numaksm-tuned.service: clean for `systemd-analyze verify` once installed;
# and on this host its ExecStart= run as written, with its Environment=, a
# notify socket and a journal stream: ready, reload and stop notifications,
# journald log lines, KSM's knobs as before.
find_program(NUMAKSM_SYSTEMD_ANALYZE systemd-analyze)
if(NUMAKSM_SYSTEMD_ANALYZE)
  add_test(NAME unit/tuned-unit-verify
           COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/tuned-unit.py verify ${PROJECT_BINARY_DIR})
  set_tests_properties(unit/tuned-unit-verify PROPERTIES LABELS unit TIMEOUT 120)
else()
  message(STATUS "systemd-analyze missing: no unit/tuned-unit-verify test")
endif()
add_test(NAME host/tuned-unit
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/tuned-unit.py run ${PROJECT_BINARY_DIR})
set_tests_properties(host/tuned-unit PROPERTIES LABELS host TIMEOUT 300 SKIP_RETURN_CODE 77
                                                RUN_SERIAL TRUE RESOURCE_LOCK ksm)

# Bash completion from the installed script: commands, options, knobs,
# nodes and hugepage sizes; on the host, the names of stand-in VMs.
add_test(NAME unit/completion
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/completion.sh $<TARGET_FILE:numaksm-cli>
                 ${NUMAKSM_COMPLETION_FILE})
set_tests_properties(unit/completion PROPERTIES LABELS unit TIMEOUT 60)
add_test(NAME host/completion-vms
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/completion.sh $<TARGET_FILE:numaksm-cli>
                 ${NUMAKSM_COMPLETION_FILE} $<TARGET_FILE:test-pin-fake-vmm>)
set_tests_properties(host/completion-vms PROPERTIES LABELS host TIMEOUT 120 SKIP_RETURN_CODE 77
                                                    RESOURCE_LOCK vm-processes)
