#pragma once
// Umbrella header of the pg library: configuration and connections, the connection pool and
// WithTransaction. Migrations are in chansum/pg/migrate.hpp.
#include "chansum/pg/connection.hpp"
#include "chansum/pg/pool.hpp"
#include "chansum/pg/transaction.hpp"
