#include "src/event_logger.hpp"

int main() { return chansum::event_logger::RunEventLoggerService(); }
