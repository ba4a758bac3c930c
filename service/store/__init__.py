"""The store: the database engine, tables and migrations, writes, aggregates, CSV import, keys."""
