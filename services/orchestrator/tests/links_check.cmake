# ctest OrchestratorLinksNoSummarizer: the API process does not carry the summarizer engine
# (libs/summarize) or the LLM client (libs/openai); its digest uses libs/text.
#   -DLINKS=<file: the targets chansum_orchestrator_service links, directly or not, one a line>
#   -DBINARY=<the chansum-orchestrator executable>  -DNM=<nm>
cmake_minimum_required(VERSION 3.25)

foreach(var LINKS BINARY NM)
  if(NOT ${var})
    message(FATAL_ERROR "links_check.cmake: -D${var}= is required")
  endif()
endforeach()

file(STRINGS "${LINKS}" links)
if(NOT "chansum_text" IN_LIST links)
  message(FATAL_ERROR "the orchestrator's link closure lacks chansum_text (read from ${LINKS}): "
                      "${links}")
endif()
foreach(banned chansum_summarize chansum_openai)
  if(banned IN_LIST links)
    message(FATAL_ERROR "the orchestrator links ${banned} (directly or through another library): "
                        "${links}")
  endif()
endforeach()

if(NOT EXISTS "${BINARY}")
  message(FATAL_ERROR "${BINARY} is not built (cmake --build build --target chansum-orchestrator)")
endif()
# Every symbol, defined or referenced (a shared build references what it does not hold).
execute_process(COMMAND "${NM}" -C "${BINARY}" OUTPUT_VARIABLE symbols ERROR_VARIABLE nm_error
                RESULT_VARIABLE nm_result)
if(NOT nm_result EQUAL 0)
  message(FATAL_ERROR "${NM} -C ${BINARY} failed (${nm_result}): ${nm_error}")
endif()
# The executable holds the orchestrator's entry point in every build; the text library's code only
# when the project's libraries are linked statically (the ASan build links them as shared
# libraries, where the link closure above is the proof).
string(FIND "${symbols}" "chansum::orchestrator::" at)
if(at EQUAL -1)
  message(FATAL_ERROR "no chansum::orchestrator:: symbol in ${BINARY}: nm output unusable?")
endif()
foreach(banned "chansum::summarize::" "chansum::openai::")
  string(REGEX MATCH "[^\n]*${banned}[^\n]*" line "${symbols}")
  if(line)
    message(FATAL_ERROR "${BINARY} holds ${banned} code: ${line}")
  endif()
endforeach()
message(STATUS "chansum-orchestrator links neither the summarizer nor the LLM client")
