# Sourced by the Makefile and the scripts: local defaults, overridable from the environment.
: "${CSMS_KAFKA_BOOTSTRAP:=127.0.0.1:9092}"
: "${CSMS_DATABASE_URL:=postgresql://csms:csms@127.0.0.1:5432/csms}"
: "${CSMS_GATEWAY_PORT:=9000}"
: "${CSMS_API_PORT:=8080}"
: "${CSMS_CACHE:=$HOME/.cache/csms}"
: "${CSMS_KAFKA_VERSION:=4.1.1}"
: "${CSMS_PG_PORT:=5432}"
export CSMS_KAFKA_BOOTSTRAP CSMS_DATABASE_URL CSMS_GATEWAY_PORT CSMS_API_PORT CSMS_CACHE CSMS_KAFKA_VERSION CSMS_PG_PORT
