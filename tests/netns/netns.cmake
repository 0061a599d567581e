# tests/netns: three namespaced hosts with netem, a partition and a heal
# (run.sh; needs root, else ctest reports it skipped).
add_executable(netns_driver ${PROJECT_SOURCE_DIR}/tests/netns/netns_driver.c)
target_link_libraries(netns_driver PRIVATE tnode troupe troupe_flags)
add_test(NAME netns_three_hosts COMMAND ${PROJECT_SOURCE_DIR}/tests/netns/run.sh
  $<TARGET_FILE:troupe-node> $<TARGET_FILE:netns_driver>)
set_tests_properties(netns_three_hosts PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
  RUN_SERIAL TRUE LABELS netns)
