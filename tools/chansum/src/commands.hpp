#pragma once
// The subcommands: each takes the session and returns the exit code (see cli.hpp).
#include <string>

#include "session.hpp"

namespace chansum::cli {

// commands_jobs.cpp
int Submit(Session& s);
int Jobs(Session& s);
int Show(Session& s);
int Retry(Session& s);
int Cancel(Session& s);

// commands_subscriptions.cpp
int Subscribe(Session& s);
int Subscriptions(Session& s);
int Unsubscribe(Session& s);

// commands_documents.cpp
int Transcript(Session& s);
int Summary(Session& s);

// command_watch.cpp
int Watch(Session& s);
// Follows `job_id` until it ends; the exit code tells how it ended.
int WatchJob(Session& s, const std::string& job_id);

}  // namespace chansum::cli
