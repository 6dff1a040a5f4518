// Command ferretdb runs FerretDB (github.com/FerretDB/FerretDB, a Mongo wire protocol server that
// stores its data in PostgreSQL) for the local stack. It is only a launcher for the embeddable
// package: `go install .../cmd/ferretdb` builds a binary that panics at start without the
// generated build/version/version.txt.
//
//	ferretdb -listen-addr 127.0.0.1:27027 -postgresql-url postgres://chansum@127.0.0.1:25432/ferretdb
//
// The flags default to FERRETDB_LISTEN_ADDR and FERRETDB_POSTGRESQL_URL. Runs until SIGTERM or
// SIGINT, then closes the listener, its connections and the PostgreSQL pool and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", os.Getenv("FERRETDB_LISTEN_ADDR"),
		"TCP address to listen on (env FERRETDB_LISTEN_ADDR)")
	postgresqlURL := flag.String("postgresql-url", os.Getenv("FERRETDB_POSTGRESQL_URL"),
		"PostgreSQL URL of the database holding the data (env FERRETDB_POSTGRESQL_URL)")
	flag.Parse()
	if *listenAddr == "" || *postgresqlURL == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: ferretdb -listen-addr HOST:PORT -postgresql-url URL")
		os.Exit(2)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:        logger,
		Handler:       "postgresql",
		PostgreSQLURL: *postgresqlURL,
	})
	if err != nil {
		logger.Error("ferretdb: cannot start", "error", err)
		os.Exit(1)
	}
	logger.Info("ferretdb: listening", "addr", *listenAddr)
	if err := f.Run(ctx); err != nil {
		logger.Error("ferretdb: stopped with an error", "error", err)
		os.Exit(1)
	}
	logger.Info("ferretdb: stopped")
}
