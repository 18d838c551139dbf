# The corpus of odd host trees (tests/fixtures/odd, made by its
# make-odd-trees.sh from lab-4node): each file real machines or their
# captures lack or get wrong, one a tree.
add_test(NAME unit/odd-trees-generated COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/odd-trees-generated.sh)
set_tests_properties(unit/odd-trees-generated PROPERTIES LABELS unit TIMEOUT 60)

# On every tree, odd or not, check/status/hugepages --root exit 0.
file(GLOB NUMAKSM_ODD_TREES LIST_DIRECTORIES true ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/odd/*)
list(FILTER NUMAKSM_ODD_TREES EXCLUDE REGEX "[.][a-z]+$")
add_test(NAME unit/odd-reports-exit0
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/reports-exit0.sh $<TARGET_FILE:numaksm-cli>
                 ${NUMAKSM_ODD_TREES} ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/lab-4node
                 ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/lab-memonly
                 ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/debian12-hybrid-1node)
set_tests_properties(unit/odd-reports-exit0 PROPERTIES LABELS unit TIMEOUT 120)

# Their reports, text and --json, against TREE.golden: every tree has one.
foreach(tree ${NUMAKSM_ODD_TREES})
  get_filename_component(name ${tree} NAME)
  add_test(NAME unit/odd/${name}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/golden-reports.sh $<TARGET_FILE:numaksm-cli> ${tree})
  set_tests_properties(unit/odd/${name} PROPERTIES LABELS unit TIMEOUT 60)
endforeach()
