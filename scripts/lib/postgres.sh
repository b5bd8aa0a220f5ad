# A private local Postgres for scripts/dev (issue 13): a data directory of
# its own, a free port on 127.0.0.1, password authentication, the `sas`
# database. Run as the `postgres` user when we are root (the server refuses
# root). Source after scripts/lib/tools.sh (sas_log, sas_die).
#
#   sas_pg_up DIR      starts (or reuses) the server whose data is DIR/data;
#                      sets SAS_PG_URL and SAS_PG_STARTED (1 = we started it)
#                      and writes DIR/database_url (mode 600)
#   sas_pg_down DIR    stops it (fast shutdown)
#
# Env: PG_BIN (the directory of initdb/pg_ctl), SAS_PG_PORT (first port tried,
# 54329).

# The directory holding initdb and pg_ctl: PG_BIN, else the newest
# /usr/lib/postgresql/*/bin (Debian), else `pg_config --bindir` (Homebrew).
sas_pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return 0; fi
  local best="" v
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] || continue
    v="$(basename "$(dirname "$d")")"
    if [ -z "$best" ] || [ "${v%%.*}" -gt "$(basename "$(dirname "$best")" | cut -d. -f1)" ]; then best="$d"; fi
  done
  if [ -n "$best" ]; then echo "$best"; return 0; fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return 0
  fi
  return 1
}

# Runs a Postgres binary as the data directory's owner.
sas_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

sas_pg_port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

sas_pg_up() {
  local dir="$1" bin port pw
  bin="$(sas_pg_bin)" || sas_die "no PostgreSQL server binaries: apt-get install postgresql, brew install postgresql@16, or set PG_BIN (or point DATABASE_URL at a server)"
  mkdir -p "$dir"
  chmod 700 "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || sas_die "running as root needs the 'postgres' user (the server refuses root)"
    chown postgres:postgres "$dir"
    runuser -u postgres -- test -x "$dir" \
      || sas_die "the postgres user cannot reach $dir (a parent directory is not traversable); set DATABASE_URL instead"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    sas_log "initdb $dir/data ($bin)"
    pw="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    (umask 077; printf '%s\n' "$pw" > "$dir/password")
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/password"
    sas_pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres -A scram-sha-256 \
      --pwfile="$dir/password" -E UTF8 > "$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; sas_die "initdb failed"; }
  fi
  pw="$(head -1 "$dir/password")"
  if sas_pg_as_owner "$bin/pg_ctl" -D "$dir/data" status > /dev/null 2>&1; then
    port="$(cat "$dir/port")"
    SAS_PG_STARTED=0
    sas_log "Postgres already running on 127.0.0.1:$port ($dir)"
  else
    port="${SAS_PG_PORT:-54329}"
    while sas_pg_port_in_use "$port"; do port=$((port + 1)); done
    echo "$port" > "$dir/port"
    sas_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" -w -t 60 start \
      > /dev/null 2>&1 || { tail -20 "$dir/postgres.log" >&2; sas_die "Postgres did not start"; }
    SAS_PG_STARTED=1
    sas_log "Postgres on 127.0.0.1:$port (data $dir/data)"
  fi
  if ! PGPASSWORD="$pw" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'sas'" | grep -q 1; then
    PGPASSWORD="$pw" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres sas \
      || sas_die "createdb sas failed"
  fi
  SAS_PG_URL="postgres://postgres:$pw@127.0.0.1:$port/sas"
  (umask 077; printf '%s\n' "$SAS_PG_URL" > "$dir/database_url")
  export SAS_PG_URL SAS_PG_STARTED
}

sas_pg_down() {
  local dir="$1" bin
  bin="$(sas_pg_bin)" || return 0
  sas_pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null 2>&1 || true
}
