#pragma once

namespace chansum::orchestrator {

// The orchestrator process: config from the environment, migrations, the HTTP API, the outbox
// relay. Returns the exit code.
int Main();

}  // namespace chansum::orchestrator
