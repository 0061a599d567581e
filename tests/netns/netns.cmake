# tests/netns: three namespaced hosts with netem (or tunem, the userspace
# emulator, where the kernel has no sch_netem), a partition and a heal
# (run.sh; needs root, else ctest reports it skipped). bench.sh measures
# remote_throughput across them.
add_executable(netns_driver ${PROJECT_SOURCE_DIR}/tests/netns/netns_driver.c)
target_link_libraries(netns_driver PRIVATE tnode troupe troupe_flags)
add_executable(tunem ${PROJECT_SOURCE_DIR}/tests/netns/tunem.c)
target_link_libraries(tunem PRIVATE troupe_flags)
add_test(NAME netns_three_hosts COMMAND ${PROJECT_SOURCE_DIR}/tests/netns/run.sh
  $<TARGET_FILE:troupe-node> $<TARGET_FILE:netns_driver> $<TARGET_FILE:tunem>)
set_tests_properties(netns_three_hosts PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
  RUN_SERIAL TRUE LABELS netns)
