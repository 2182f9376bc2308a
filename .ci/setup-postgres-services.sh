#!/usr/bin/env bash
# Starts the real components the external test suites need, on 127.0.0.1 only:
#
#   - a PostgreSQL cluster of its own (Debian's server, pg_createcluster) with ssl = on,
#     a throwaway test CA and a server certificate for "localhost", and no plain-TCP
#     access at all (pg_hba has only hostssl lines for TCP);
#   - PgBouncer (Debian's package) in front of it in pool_mode = transaction, with fewer
#     server connections than the tests' concurrent clients, SCRAM auth and TLS for
#     clients (client_tls_sslmode = require), as Neon's pooler.
#
# Installs pgbouncer, the PostgreSQL server and openssl with apt when they are missing
# (needs root, as CI runs). The machine's default cluster is left alone. Running it again
# replaces what a previous run set up. Writes the URLs the suites read to
# $TODO_CI_SERVICES_DIR/services.env, which `make test-external` loads.
#
# Usage: .ci/setup-postgres-services.sh          (then: make test-external)
#        .ci/setup-postgres-services.sh --stop   (stops and removes everything it made)
set -euo pipefail

SERVICES_DIR=${TODO_CI_SERVICES_DIR:-/tmp/todo-api-ci-services}
# Below the kernel's ephemeral range (32768+): a client retrying a port in that range while
# the server is down could be handed that very port as its source and connect to itself.
PG_PORT=${TODO_CI_PG_PORT:-25433}
PGBOUNCER_PORT=${TODO_CI_PGBOUNCER_PORT:-26433}
CLUSTER=todo_ci
ROLE=todo_ci
PASSWORD=${TODO_CI_PASSWORD:-todo-ci-Pa55word}
# Fewer server connections than the tests' concurrent clients (see backend/tests/external).
PGBOUNCER_POOL_SIZE=3
SOCKET_DIR=/var/run/postgresql
# It goes into URLs and a quoted env file unescaped.
[[ $PASSWORD =~ ^[A-Za-z0-9._~-]+$ ]] || { echo "TODO_CI_PASSWORD: letters, digits and . _ ~ - only" >&2; exit 1; }

log() { echo "setup-postgres-services: $*" >&2; }
die() { log "error: $*"; exit 1; }

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }

stop_pgbouncer() {
    local pid_file=$SERVICES_DIR/pgbouncer.pid
    if [[ -s $pid_file ]]; then
        local pid
        pid=$(cat "$pid_file")
        if kill -0 "$pid" 2>/dev/null; then
            log "stopping the PgBouncer this script started (pid $pid)"
            kill -TERM "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$pid_file"
    fi
}

drop_cluster() {
    local version=$1
    if [[ -n $version ]] && pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$version $CLUSTER"; then
        log "dropping the previous $version/$CLUSTER cluster"
        pg_dropcluster --stop "$version" "$CLUSTER"
    fi
}

if [[ ${1:-} == --stop ]]; then
    stop_pgbouncer
    drop_cluster "$(pg_version)"
    rm -rf "$SERVICES_DIR"
    exit 0
fi

# --- Install what is missing -------------------------------------------------------------
missing=()
[[ -x /usr/sbin/pgbouncer ]] || missing+=(pgbouncer)
{ command -v pg_createcluster >/dev/null && [[ -n $(pg_version) ]]; } || missing+=(postgresql)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
    [[ $EUID -eq 0 ]] || die "missing ${missing[*]}; run as root to install them with apt"
    log "installing ${missing[*]} with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
[[ $EUID -eq 0 ]] || die "run as root (it creates a cluster and starts PgBouncer as user postgres)"
VERSION=$(pg_version)
[[ -n $VERSION ]] || die "no PostgreSQL server found under /usr/lib/postgresql"

for port in "$PG_PORT" "$PGBOUNCER_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        # Ours from an earlier run is torn down below; anything else is a conflict.
        [[ -d $SERVICES_DIR ]] || die "127.0.0.1:$port is in use; set TODO_CI_PG_PORT / TODO_CI_PGBOUNCER_PORT"
    fi
done

stop_pgbouncer
drop_cluster "$VERSION"
rm -rf "$SERVICES_DIR"
mkdir -p "$SERVICES_DIR"

# --- A throwaway certificate authority and a server certificate for "localhost" ----------
# The server certificate names only DNS:localhost, so verify-full succeeds through
# "localhost" and fails through "127.0.0.1" (which verify-ca accepts): host names are
# really checked.
log "generating a test CA and a server certificate in $SERVICES_DIR"
openssl req -x509 -new -nodes -newkey rsa:2048 -days 2 -sha256 \
    -subj "/CN=todo-api test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$SERVICES_DIR/ca.key" -out "$SERVICES_DIR/ca.crt" 2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -subj "/CN=localhost" \
    -keyout "$SERVICES_DIR/server.key" -out "$SERVICES_DIR/server.csr" 2>/dev/null
printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost" >"$SERVICES_DIR/server.ext"
openssl x509 -req -in "$SERVICES_DIR/server.csr" -CA "$SERVICES_DIR/ca.crt" \
    -CAkey "$SERVICES_DIR/ca.key" -CAcreateserial -days 2 -sha256 \
    -extfile "$SERVICES_DIR/server.ext" -out "$SERVICES_DIR/server.crt" 2>/dev/null
rm -f "$SERVICES_DIR/ca.key" "$SERVICES_DIR/server.csr" "$SERVICES_DIR/ca.srl"
chown -R postgres:postgres "$SERVICES_DIR"
chmod 0600 "$SERVICES_DIR/server.key"
chmod 0644 "$SERVICES_DIR/ca.crt" "$SERVICES_DIR/server.crt"
chmod 0755 "$SERVICES_DIR"

# --- PostgreSQL with ssl = on, SSL-only over TCP ----------------------------------------
log "creating cluster $VERSION/$CLUSTER on 127.0.0.1:$PG_PORT"
pg_createcluster "$VERSION" "$CLUSTER" --port "$PG_PORT" --start-conf manual \
    -- --auth-local=peer --auth-host=scram-sha-256 >&2
CONF_DIR=/etc/postgresql/$VERSION/$CLUSTER
cat >"$CONF_DIR/conf.d/todo-ci.conf" <<EOF
# Written by .ci/setup-postgres-services.sh
listen_addresses = '127.0.0.1'
ssl = on
ssl_cert_file = '$SERVICES_DIR/server.crt'
ssl_key_file = '$SERVICES_DIR/server.key'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
max_connections = 200
EOF
cat >"$CONF_DIR/pg_hba.conf" <<EOF
# Written by .ci/setup-postgres-services.sh. No "host" lines: TCP clients must use SSL.
local   all   postgres            peer
# The test harness (creating and dropping databases) and PgBouncer, over the Unix socket.
local   all   $ROLE              scram-sha-256
hostssl all   $ROLE   127.0.0.1/32   scram-sha-256
EOF
pg_ctlcluster "$VERSION" "$CLUSTER" start
runuser -u postgres -- psql -q -X -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PG_PORT" -d postgres \
    -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2

# --- PgBouncer, transaction pooling, TLS for clients ------------------------------------
log "starting PgBouncer on 127.0.0.1:$PGBOUNCER_PORT (pool_mode = transaction, default_pool_size = $PGBOUNCER_POOL_SIZE)"
cat >"$SERVICES_DIR/userlist.txt" <<EOF
"$ROLE" "$PASSWORD"
EOF
cat >"$SERVICES_DIR/pgbouncer.ini" <<EOF
; Written by .ci/setup-postgres-services.sh
[databases]
; Any database the tests create, on the SSL cluster, over its Unix socket.
* = host=$SOCKET_DIR port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $SERVICES_DIR/userlist.txt
pool_mode = transaction
default_pool_size = $PGBOUNCER_POOL_SIZE
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
; Reconnect to a restarted server at once (the default waits 15 s).
server_login_retry = 1
client_tls_sslmode = require
client_tls_key_file = $SERVICES_DIR/server.key
client_tls_cert_file = $SERVICES_DIR/server.crt
client_tls_ca_file = $SERVICES_DIR/ca.crt
logfile = $SERVICES_DIR/pgbouncer.log
pidfile = $SERVICES_DIR/pgbouncer.pid
EOF
chown postgres:postgres "$SERVICES_DIR/userlist.txt" "$SERVICES_DIR/pgbouncer.ini"
chmod 0600 "$SERVICES_DIR/userlist.txt"
runuser -u postgres -- /usr/sbin/pgbouncer -d -q "$SERVICES_DIR/pgbouncer.ini"
for _ in $(seq 100); do
    pg_isready -q -h 127.0.0.1 -p "$PGBOUNCER_PORT" && break
    sleep 0.1
done
pg_isready -q -h 127.0.0.1 -p "$PGBOUNCER_PORT" || die "PgBouncer did not start; see $SERVICES_DIR/pgbouncer.log"

# --- What the suites read ----------------------------------------------------------------
CREDENTIALS="$ROLE:$PASSWORD"
cat >"$SERVICES_DIR/services.env" <<EOF
# Written by .ci/setup-postgres-services.sh; loaded by \`make test-external\`.
# The harness creates and drops its databases over the Unix socket.
TEST_DATABASE_URL='postgresql://$CREDENTIALS@/postgres?host=$SOCKET_DIR&port=$PG_PORT'
TEST_PG_SSL_REQUIRE_URL='postgresql://$CREDENTIALS@127.0.0.1:$PG_PORT/postgres?sslmode=require'
TEST_PG_SSL_VERIFY_FULL_URL='postgresql://$CREDENTIALS@localhost:$PG_PORT/postgres?sslmode=verify-full&sslrootcert=$SERVICES_DIR/ca.crt'
TEST_PGBOUNCER_URL='postgresql://$CREDENTIALS@localhost:$PGBOUNCER_PORT/postgres?sslmode=require&channel_binding=require&sslrootcert=$SERVICES_DIR/ca.crt'
TEST_PGBOUNCER_POOL_SIZE=$PGBOUNCER_POOL_SIZE
TEST_PG_CA_FILE='$SERVICES_DIR/ca.crt'
# For the outage test behind PgBouncer: pg_ctlcluster stops and starts it.
TEST_PG_CLUSTER='$VERSION $CLUSTER'
EOF
chmod 0644 "$SERVICES_DIR/services.env"
log "ready; URLs in $SERVICES_DIR/services.env"
