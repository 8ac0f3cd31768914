#!/usr/bin/env bash
# Runs a command with the services up and the environment deploy/services.sh wrote (.weft/env):
#   deploy/with-services.sh [services.sh options] -- command args...
set -euo pipefail
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

services_args=()
while (($#)) && [[ $1 != -- ]]; do services_args+=("$1"); shift; done
[[ ${1:-} == -- ]] && shift
(($#)) || { echo "usage: deploy/with-services.sh [services.sh options] -- command args..." >&2; exit 2; }

bash "$ROOT_DIR/deploy/services.sh" "${services_args[@]}"
set -a
# shellcheck source=/dev/null
. "$ROOT_DIR/.weft/env"
set +a
# Programs that spawn nats-server or ferretdb by name find the ones services.sh chose.
[[ -n ${WEFT_NATS_SERVER_BIN:-} ]] && PATH="$(dirname "$WEFT_NATS_SERVER_BIN"):$PATH"
[[ -n ${WEFT_FERRETDB_BIN:-} ]] && PATH="$(dirname "$WEFT_FERRETDB_BIN"):$PATH"
[[ -n ${WEFT_GRPCURL_BIN:-} ]] && PATH="$(dirname "$WEFT_GRPCURL_BIN"):$PATH"
export PATH
cd "$ROOT_DIR"
exec "$@"
