-- Embedded by chansum_embed_sql() in libs/pg's tests; also applied by migrate_pgtest.cpp.
CREATE TABLE embed_check (id serial PRIMARY KEY, v text NOT NULL);
