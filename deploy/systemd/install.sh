#!/usr/bin/env bash
# Installs Weft as systemd services on this host: renders the units of deploy/systemd/ (paths, user, and each
# TimeoutStopSec derived from the environment files by deploy/stop-grace.ts), writes the environment files and
# nats.conf to /etc/weft when absent (your edits are kept), copies nats-server and ferretdb where the service
# user can run them, then enables and starts weft.target. Idempotent: run it again after changing an env file.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: deploy/systemd/install.sh [options]
  --components LIST   comma-separated, of nats,ferretdb,controller,agent,gateway (default: all of them)
  --user NAME         the account the services run as (default: weft, created as a system user)
  --unit-dir DIR      where the units go (default: /etc/systemd/system)
  --etc-dir DIR       environment files and nats.conf (default: /etc/weft)
  --state-dir DIR     JetStream store, FerretDB data, the agent's build cache (default: /var/lib/weft)
  --bin-dir DIR       where nats-server and ferretdb are copied (default: /usr/local/lib/weft/bin)
  --no-start          enable, but do not start
  --render-only       write the files and nothing else: no user, no chown, no systemctl (what the tests use)
Binaries: node from PATH; nats-server and ferretdb from .weft/env (deploy/services.sh), PATH or ~/go/bin.
EOF
}

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC_DIR="$ROOT_DIR/deploy/systemd"
COMPONENTS=nats,ferretdb,controller,agent,gateway
SERVICE_USER=weft
UNIT_DIR=/etc/systemd/system
ETC_DIR=/etc/weft
STATE_DIR=/var/lib/weft
BIN_DIR=/usr/local/lib/weft/bin
START=true
RENDER_ONLY=false
while (($#)); do
  case $1 in
    --components) COMPONENTS=$2; shift ;;
    --user) SERVICE_USER=$2; shift ;;
    --unit-dir) UNIT_DIR=$2; shift ;;
    --etc-dir) ETC_DIR=$2; shift ;;
    --state-dir) STATE_DIR=$2; shift ;;
    --bin-dir) BIN_DIR=$2; shift ;;
    --no-start) START=false ;;
    --render-only) RENDER_ONLY=true ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

say() { printf 'weft: %-9s %s\n' "$1" "$2" >&2; }
die() { printf 'weft: %-9s ERROR: %s\n' "$1" "$2" >&2; exit 1; }

IFS=, read -r -a WANTED <<<"$COMPONENTS"
for c in "${WANTED[@]}"; do
  [[ $c =~ ^(nats|ferretdb|controller|agent|gateway)$ ]] || die install "unknown component $c"
done
wants() { [[ ",$COMPONENTS," == *",$1,"* ]]; }

# ---- binaries ----------------------------------------------------------------------------------------------
env_file_value() { [[ -f $ROOT_DIR/.weft/env ]] && sed -n "s/^$1=//p" "$ROOT_DIR/.weft/env" | tail -1; }
find_binary() { # name, variable in .weft/env
  local c
  for c in "$(env_file_value "$2" || true)" "$(command -v "$1" 2>/dev/null || true)" "${GOPATH:-$HOME/go}/bin/$1"; do
    [[ -n $c && -x $c ]] && { echo "$c"; return 0; }
  done
  return 1
}

NODE_BIN=$(command -v node) || die node "node (>= 20) is not on PATH"
NATS_SRC="" FERRETDB_SRC=""
if wants nats; then NATS_SRC=$(find_binary nats-server WEFT_NATS_SERVER_BIN) || die nats "no nats-server: run deploy/services.sh first"; fi
if wants ferretdb; then FERRETDB_SRC=$(find_binary ferretdb WEFT_FERRETDB_BIN) || die ferretdb "no ferretdb: run deploy/services.sh --for-tests first"; fi

# A home directory is often closed to other users: the service user runs copies.
install_binary() { # source, name
  mkdir -p "$BIN_DIR"
  cmp -s "$1" "$BIN_DIR/$2" || install -m 0755 "$1" "$BIN_DIR/$2"
  echo "$BIN_DIR/$2"
}
NATS_BIN="" FERRETDB_BIN=""
[[ -n $NATS_SRC ]] && NATS_BIN=$(install_binary "$NATS_SRC" nats-server)
[[ -n $FERRETDB_SRC ]] && FERRETDB_BIN=$(install_binary "$FERRETDB_SRC" ferretdb)

# ---- the service user ----------------------------------------------------------------------------------------
if ! $RENDER_ONLY; then
  [[ $(id -u) == 0 ]] || die install "run as root (or use --render-only)"
  if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    say user "useradd --system $SERVICE_USER"
    useradd --system --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  if wants agent && getent group docker >/dev/null; then usermod -aG docker "$SERVICE_USER"; fi
  runuser -u "$SERVICE_USER" -- test -r "$ROOT_DIR/package.json" ||
    die install "$SERVICE_USER cannot read $ROOT_DIR: put the checkout where it can (e.g. /opt/weft), or --user root"
  [[ -d $ROOT_DIR/node_modules/tsx ]] || die install "run npm ci in $ROOT_DIR first"
fi
SERVICE_GROUP=$(id -gn "$SERVICE_USER" 2>/dev/null || echo "$SERVICE_USER")

# ---- environment files (kept when present) -------------------------------------------------------------------
# nats-server and FerretDB share the host with the fabric: half its cores as GOMAXPROCS, at least 1 (deploy/go-servers.ts).
# WEFT_NATS_GOMAXPROCS and WEFT_FERRETDB_GOMAXPROCS, when above 0, win.
read -r NATS_GOMAXPROCS FERRETDB_GOMAXPROCS < <(cd "$ROOT_DIR" && "$NODE_BIN" --import tsx -e 'import("./deploy/go-servers.ts").then(({ serverGoMaxProcs: n }) =>
  console.log(n(Number(process.env.WEFT_NATS_GOMAXPROCS) || 0), n(Number(process.env.WEFT_FERRETDB_GOMAXPROCS) || 0)))')
render() { # file: every @NAME@ placeholder replaced
  sed -e "s|@ROOT@|$ROOT_DIR|g" -e "s|@NODE@|$NODE_BIN|g" -e "s|@NATS_SERVER@|$NATS_BIN|g" \
    -e "s|@FERRETDB@|$FERRETDB_BIN|g" -e "s|@ETC_DIR@|$ETC_DIR|g" -e "s|@STATE_DIR@|$STATE_DIR|g" \
    -e "s|@USER@|$SERVICE_USER|g" -e "s|@GROUP@|$SERVICE_GROUP|g" -e "s|@HOSTNAME@|$(hostname -s | tr -c 'A-Za-z0-9_\n-' -)|g" \
    -e "s|@NATS_STOP_SEC@|${NATS_STOP_SEC:-}|g" -e "s|@FERRETDB_STOP_SEC@|${FERRETDB_STOP_SEC:-}|g" \
    -e "s|@CONTROLLER_STOP_SEC@|${CONTROLLER_STOP_SEC:-}|g" -e "s|@AGENT_STOP_SEC@|${AGENT_STOP_SEC:-}|g" \
    -e "s|@GATEWAY_STOP_SEC@|${GATEWAY_STOP_SEC:-}|g" -e "s|@NATS_GOMAXPROCS@|$NATS_GOMAXPROCS|g" \
    -e "s|@FERRETDB_GOMAXPROCS@|$FERRETDB_GOMAXPROCS|g" "$1"
}

mkdir -p "$ETC_DIR"
for f in weft.env controller.env agent.env gateway.env ferretdb.env nats.conf; do
  if [[ -e $ETC_DIR/$f ]]; then
    say config "$ETC_DIR/$f kept"
  else
    render "$SRC_DIR/etc/$f" >"$ETC_DIR/$f"
    say config "$ETC_DIR/$f written"
  fi
done

# ---- state directories ---------------------------------------------------------------------------------------
mkdir -p "$STATE_DIR/nats" "$STATE_DIR/ferretdb" "$STATE_DIR/agent" "$STATE_DIR/builds"
$RENDER_ONLY || chown -R "$SERVICE_USER:$SERVICE_GROUP" "$STATE_DIR"

# ---- stop timeouts, from the same variables the programs read --------------------------------------------------
stop_seconds() { # component, env files...
  (cd "$ROOT_DIR" && "$NODE_BIN" --import tsx deploy/stop-grace.ts "$@")
}
NATS_STOP_SEC=$(stop_seconds nats-server "$ETC_DIR/weft.env")
FERRETDB_STOP_SEC=$NATS_STOP_SEC
CONTROLLER_STOP_SEC=$(stop_seconds controller "$ETC_DIR/weft.env" "$ETC_DIR/controller.env")
AGENT_STOP_SEC=$(stop_seconds agent "$ETC_DIR/weft.env" "$ETC_DIR/agent.env")
GATEWAY_STOP_SEC=$(stop_seconds gateway "$ETC_DIR/weft.env" "$ETC_DIR/gateway.env")
say grace "TimeoutStopSec: agent ${AGENT_STOP_SEC}s, gateway ${GATEWAY_STOP_SEC}s, controller ${CONTROLLER_STOP_SEC}s, nats ${NATS_STOP_SEC}s"

# ---- units -------------------------------------------------------------------------------------------------
mkdir -p "$UNIT_DIR"
UNITS=(weft.target)
for c in "${WANTED[@]}"; do UNITS+=("weft-$c.service"); done
for u in "${UNITS[@]}"; do
  render "$SRC_DIR/$u" >"$UNIT_DIR/$u.tmp"
  mv "$UNIT_DIR/$u.tmp" "$UNIT_DIR/$u"
  say unit "$UNIT_DIR/$u"
done
if grep -l '@[A-Z_]*@' "${UNITS[@]/#/$UNIT_DIR/}" >/dev/null; then die unit "a placeholder was left unrendered"; fi

if $RENDER_ONLY; then exit 0; fi
if [[ ! -d /run/systemd/system ]]; then
  say systemd "not running as PID 1 here: the units are written; enable them where systemd runs: systemctl enable --now ${UNITS[*]}"
  exit 0
fi
systemctl daemon-reload
systemctl enable "${UNITS[@]}"
if $START; then
  systemctl restart weft.target "${UNITS[@]:1}"
  say systemd "started: systemctl status 'weft-*'   journalctl -u 'weft-*' -f"
fi
