# Test discovery for doctest_discover_tests(), in place of doctest's own
# doctestAddTests.cmake (tests/CMakeLists.txt points _DOCTEST_DISCOVER_TESTS_SCRIPT
# here). doctest's script splits the list of test cases into a CMake list, so
# a name with ';' became two ctest tests whose filters matched nothing: they
# "passed" without running. Here each line stays whole; in the ctest name ';'
# becomes ',' and in the --test-case filter '?' (doctest's one-character
# wildcard), and ',' is escaped (doctest's filter separator). A test whose
# filter matches no test case fails.
#
# Same -D inputs as doctest's script; labels and JUnit output are not supported.
set(script "")
set(tests "")

function(add_command name)
  set(args "")
  foreach(arg IN LISTS ARGN)
    if(arg MATCHES "[^-./:a-zA-Z0-9_]")
      string(APPEND args " [==[${arg}]==]")
    else()
      string(APPEND args " ${arg}")
    endif()
  endforeach()
  set(script "${script}${name}(${args})\n" PARENT_SCOPE)
endfunction()

if(TEST_ADD_LABELS OR TEST_JUNIT_OUTPUT_DIR)
  message(FATAL_ERROR "tests/support/doctest_add_tests.cmake: ADD_LABELS and JUNIT_OUTPUT_DIR unsupported")
endif()
if(NOT EXISTS "${TEST_EXECUTABLE}")
  message(FATAL_ERROR "Specified test executable '${TEST_EXECUTABLE}' does not exist")
endif()
set(spec "")
if(TEST_SPEC MATCHES .)
  set(spec "--test-case=${TEST_SPEC}")
endif()
execute_process(
  COMMAND ${TEST_EXECUTOR} "${TEST_EXECUTABLE}" ${spec} --list-test-cases
  OUTPUT_VARIABLE output
  RESULT_VARIABLE result
  WORKING_DIRECTORY "${TEST_WORKING_DIR}")
if(NOT result EQUAL 0)
  message(FATAL_ERROR "Error running test executable '${TEST_EXECUTABLE}':\n"
                      "  Result: ${result}\n  Output: ${output}\n")
endif()

# One line at a time, never through a CMake list.
while(NOT output STREQUAL "")
  string(FIND "${output}" "\n" newline)
  if(newline EQUAL -1)
    set(line "${output}")
    set(output "")
  else()
    string(SUBSTRING "${output}" 0 ${newline} line)
    math(EXPR next "${newline} + 1")
    string(SUBSTRING "${output}" ${next} -1 output)
  endif()
  string(REGEX REPLACE "\r$" "" line "${line}")
  if(line STREQUAL "" OR line MATCHES "^=+$" OR line MATCHES "^\\[doctest\\] ")
    continue()
  endif()
  string(REPLACE ";" "," name "${TEST_PREFIX}${line}${TEST_SUFFIX}")
  string(REPLACE "," "\\," filter "${line}")
  string(REPLACE ";" "?" filter "${filter}")
  add_command(add_test "${name}" ${TEST_EXECUTOR} "${TEST_EXECUTABLE}" "--test-case=${filter}"
              ${TEST_EXTRA_ARGS})
  # A filter that matches no test case must fail, not pass.
  add_command(set_tests_properties "${name}" PROPERTIES
              WORKING_DIRECTORY "${TEST_WORKING_DIR}"
              FAIL_REGULAR_EXPRESSION "\\[doctest\\] test cases: +0 [|]" ${TEST_PROPERTIES})
  list(APPEND tests "${name}")
endwhile()

add_command(set ${TEST_LIST} ${tests})
file(WRITE "${CTEST_FILE}" "${script}")
