# `numaksm vm` without KVM: usage errors, an empty runtime directory, and the
# control protocol against a stand-in VMM (tests/unit/fake-vmm.c).
add_executable(fake-vmm unit/fake-vmm.c)
target_link_libraries(fake-vmm PRIVATE PkgConfig::JSONC)
target_include_directories(fake-vmm PRIVATE ${PROJECT_SOURCE_DIR}/src/include)
add_test(NAME unit/vm-cmd
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/unit/test-vm-cmd.sh $<TARGET_FILE:numaksm-cli>
                 $<TARGET_FILE:fake-vmm>)
set_tests_properties(unit/vm-cmd PROPERTIES LABELS unit TIMEOUT 60)
