#!/usr/bin/env bash
# One database and one login role per service, each role owning only its own database: a service
# cannot read another's tables. The PostgreSQL image runs this once, when its data volume is first
# initialised (docker-compose.yml mounts it into /docker-entrypoint-initdb.d/).
#
# Passwords come from AIDFLOW_DB_PASSWORD_<SERVICE> (development defaults: dev-<service>).
# AIDFLOW_DB_PREFIX puts a prefix before every role and database name, for several environments
# on one server. Connects as POSTGRES_USER to POSTGRES_DB (PGHOST and friends apply as usual).
set -euo pipefail

prefix=${AIDFLOW_DB_PREFIX:-}
for service in intake review payout followup; do
    variable="AIDFLOW_DB_PASSWORD_${service^^}"
    password=${!variable:-dev-$service}
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
        --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        -v name="$prefix$service" -v password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
    echo "database $prefix$service ready"
done
