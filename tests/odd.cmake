# The corpus of odd host trees (tests/fixtures/odd, made by its
# make-odd-trees.sh from lab-4node): each file real machines or their
# captures lack or get wrong, one a tree.
add_test(NAME unit/odd-trees-generated COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/odd-trees-generated.sh)
set_tests_properties(unit/odd-trees-generated PROPERTIES LABELS unit TIMEOUT 60)
