-- What the runtime role may do in one database of the topology: read and write rows,
-- use the sequences, nothing else (no CREATE, ALTER, DROP, TRUNCATE, no temporary
-- tables). Run by the database OWNER after the migrations, in each database (the
-- cases database and the conversations database), by deploy/prepare_databases.py
-- (scripts/run-production.sh does it at every start), or by hand:
--
--   psql "$DATABASE_MIGRATION_URL" -v runtime_role=buzon_app -v database=buzon_cases \
--        -f deploy/roles.sql
--
-- Before the first deployment, a database administrator creates the two roles and
-- the two databases (prepare_databases.py does it with BUZON_DB_ADMIN_URL, as on a
-- one-machine demo):
--
--   CREATE ROLE buzon_owner LOGIN PASSWORD '…';   -- runs the migrations only
--   CREATE ROLE buzon_app LOGIN PASSWORD '…';     -- every running process
--   CREATE DATABASE buzon_cases OWNER buzon_owner;
--   CREATE DATABASE buzon_conversations OWNER buzon_owner;

REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"runtime_role";

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"runtime_role";

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"runtime_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"runtime_role";
