# libFuzzer targets (TROUPE_FUZZ=ON, clang): tests/fuzz/fuzz_<name>.c ->
# fuzz_<name>. The whole library is built with coverage instrumentation
# and ASan+UBSan; tools/troupe-fuzz builds the preset and runs each target.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "TROUPE_FUZZ needs clang (cmake --preset fuzz)")
endif()
if(NOT TROUPE_SANITIZER STREQUAL "none")
  message(FATAL_ERROR "TROUPE_FUZZ brings its own sanitizers: leave TROUPE_SANITIZER none")
endif()
target_compile_options(troupe_flags INTERFACE -fsanitize=fuzzer-no-link,address,undefined
  -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g)
target_link_options(troupe_flags INTERFACE -fsanitize=address,undefined)
file(GLOB FUZZ_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
foreach(src ${FUZZ_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/engine)
  target_link_libraries(${name} PRIVATE tnode troupe troupe_flags)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endforeach()
