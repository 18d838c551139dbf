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

# A unit test of the VMM's parts: tests/unit/NAME.c, linked with them.
function(vmm_unit_test name timeout)
  add_executable(${name} unit/${name}.c)
  target_link_libraries(${name} PRIVATE numaksm_vmm_obj PkgConfig::CMOCKA)
  add_test(NAME unit/${name} COMMAND ${name})
  set_tests_properties(unit/${name} PROPERTIES LABELS unit TIMEOUT ${timeout})
endfunction()

vmm_unit_test(test-vmm-config 60)
# Booting Linux without KVM: bzImage, e820, boot_params and ACPI tables.
vmm_unit_test(test-vmm-boot 60)
# The vmlinux inside a bzImage: inflated, checked, placed, kept in the cache.
vmm_unit_test(test-vmm-vmlinux 120)
# The CMOS RTC through its ports, on a clock the test sets.
vmm_unit_test(test-vmm-rtc 60)
# A Linux guest's console without KVM: socket, pty and file.
vmm_unit_test(test-vmm-console 60)

add_test(NAME unit/vmm-cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-vmm-cli.sh
                                   $<TARGET_FILE:numaksm-vmm>)
set_tests_properties(unit/vmm-cli PROPERTIES LABELS unit TIMEOUT 60)

