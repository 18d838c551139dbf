# numaksm-vmm: unit tests of its parts, and end-to-end tests of real VMs.
# Those run in the NUMA lab's kvm guest; on the host only where it has
# /dev/kvm (a host without it could never run them).
add_executable(test-vmm vmm/test-vmm.c)
target_link_libraries(test-vmm PRIVATE numaksm_obj PkgConfig::JSONC PkgConfig::NUMA m)
target_include_directories(test-vmm PRIVATE ${PROJECT_SOURCE_DIR}/tools/vmm)
if(EXISTS /dev/kvm)
  foreach(t patterns affinity ksm signals control numa hugepages limits)
    add_test(NAME host/vmm/${t} COMMAND test-vmm ${t})
    set_tests_properties(host/vmm/${t} PROPERTIES LABELS host TIMEOUT 600 SKIP_RETURN_CODE 77
                         ENVIRONMENT "NUMAKSM_VMM=$<TARGET_FILE:numaksm-vmm>")
  endforeach()
endif()

add_executable(test-vmm-config unit/test-vmm-config.c)
target_link_libraries(test-vmm-config PRIVATE numaksm_vmm_obj PkgConfig::CMOCKA)
add_test(NAME unit/test-vmm-config COMMAND test-vmm-config)
set_tests_properties(unit/test-vmm-config PROPERTIES LABELS unit TIMEOUT 60)

# Booting Linux without KVM: bzImage, e820, boot_params and ACPI tables.
add_executable(test-vmm-boot unit/test-vmm-boot.c)
target_link_libraries(test-vmm-boot PRIVATE numaksm_vmm_obj PkgConfig::CMOCKA)
add_test(NAME unit/test-vmm-boot COMMAND test-vmm-boot)
set_tests_properties(unit/test-vmm-boot PROPERTIES LABELS unit TIMEOUT 60)

# The CMOS RTC through its ports, on a clock the test sets.
add_executable(test-vmm-vmlinux unit/test-vmm-vmlinux.c)
target_link_libraries(test-vmm-vmlinux PRIVATE numaksm_vmm_obj PkgConfig::CMOCKA)
add_test(NAME unit/test-vmm-vmlinux COMMAND test-vmm-vmlinux)
set_tests_properties(unit/test-vmm-vmlinux PROPERTIES LABELS unit TIMEOUT 120)

add_executable(test-vmm-rtc unit/test-vmm-rtc.c)
target_link_libraries(test-vmm-rtc PRIVATE numaksm_vmm_obj PkgConfig::CMOCKA)
add_test(NAME unit/test-vmm-rtc COMMAND test-vmm-rtc)
set_tests_properties(unit/test-vmm-rtc PROPERTIES LABELS unit TIMEOUT 60)

add_test(NAME unit/vmm-cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-vmm-cli.sh
                                   $<TARGET_FILE:numaksm-vmm>)
set_tests_properties(unit/vmm-cli PROPERTIES LABELS unit TIMEOUT 60)

# A Linux guest's console without KVM: socket, pty and file.
add_executable(test-vmm-console unit/test-vmm-console.c)
target_link_libraries(test-vmm-console PRIVATE numaksm_vmm_obj PkgConfig::CMOCKA)
add_test(NAME unit/test-vmm-console COMMAND test-vmm-console)
set_tests_properties(unit/test-vmm-console PROPERTIES LABELS unit TIMEOUT 60)
