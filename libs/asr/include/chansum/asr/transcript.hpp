#pragma once
// A transcript as the pipeline stores it: timed segments plus the joined text. Segments from ASR
// have no punctuation; they are split at pauses and serve as sentences for the summarizer.
#include "chansum/protocol/documents.hpp"

namespace chansum::asr {

// The stored transcript document is the contract's (chansum/protocol/documents.hpp); the engines
// return it as it is.
using Segment = protocol::TranscriptSegment;
using protocol::JoinSegments;
using protocol::ToJson;
using protocol::Transcript;
using protocol::TranscriptFromJson;

}  // namespace chansum::asr
