#!/usr/bin/env bash
# Brings up, idempotently, what Weft runs on: the Docker engine with runsc, a nats-server binary, a MongoDB
# wire-protocol server, the base image and the runtime images. As root it installs and starts what is
# missing; otherwise it says exactly what to install. It ends by writing .weft/env for the programs that follow.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: deploy/services.sh [options] [-- args for deploy/images.ts]
  --no-images     skip the base and runtime images
  --images-only   only Docker and the images (no NATS, no MongoDB)
  --for-tests     also make sure a ferretdb binary exists (tests start private ones), grpcurl,
                  schemathesis in a venv under .weft/, and chromium
  --with-compose  also Docker Compose v2 (built through the Go module proxy; npm run compose and its test use it)
  --quiet         print only what changed, problems and the summary
Environment: MONGO_URL (use this MongoDB), WEFT_MONGO_PORT (else 27017), WEFT_NATS_SERVER_BIN,
  WEFT_FERRETDB_BIN, WEFT_COMPOSE_BIN, WEFT_CHROMIUM_BIN, WEFT_STATE_DIR, WEFT_BASE_IMAGE (default weft/base:bookworm),
  WEFT_BASE_IMAGE_TRIXIE (default weft/base:trixie), WEFT_DEBIAN_MIRROR, WEFT_FERRETDB_GOGC (default 400),
  WEFT_FERRETDB_GOMAXPROCS (default 0: half the host's cores, at least 1).
EOF
}

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEFT_DIR="$ROOT_DIR/.weft"
ENV_FILE="$WEFT_DIR/env"
IS_ROOT=false
[[ $(id -u) == 0 ]] && IS_ROOT=true
if $IS_ROOT; then
  STATE_DIR=${WEFT_STATE_DIR:-/var/lib/weft}
  LOG_DIR=/var/log
else
  STATE_DIR=${WEFT_STATE_DIR:-$WEFT_DIR/state}
  LOG_DIR=$WEFT_DIR
fi

NATS_VERSION=v2.15.2
# v1.24.1 is what the design names; the Go proxy has refused it (403), so v1.24.0 is the fallback.
FERRETDB_VERSIONS=(v1.24.1 v1.24.0)
# The toolchain fetched (as a Go module) when the distribution's Go is too old to build nats-server.
GO_BOOTSTRAP_VERSION=1.26.0
BASE_IMAGE=${WEFT_BASE_IMAGE:-weft/base:bookworm}
# Debian 13 (trixie) is the base of the current runtimes (python3.13, nodejs20); bookworm keeps python3.11 and nodejs18.
TRIXIE_BASE_IMAGE=${WEFT_BASE_IMAGE_TRIXIE:-weft/base:trixie}
DEBIAN_MIRROR=${WEFT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
MONGO_PORT=${WEFT_MONGO_PORT:-27017}

WITH_IMAGES=true
WITH_RUNTIME=true
FOR_TESTS=false
WITH_COMPOSE=false
QUIET=false
IMAGE_ARGS=()
while (($#)); do
  case $1 in
    --no-images) WITH_IMAGES=false ;;
    --images-only) WITH_RUNTIME=false ;;
    --for-tests) FOR_TESTS=true ;;
    --with-compose) WITH_COMPOSE=true ;;
    --quiet | -q) QUIET=true ;;
    -h | --help) usage; exit 0 ;;
    --) shift; IMAGE_ARGS=("$@"); break ;;
    *) echo "services.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# ---- output ---------------------------------------------------------------------------------------------
MISSING=()   # what a non-root user must do, printed together at the end
say() { $QUIET || printf 'weft: %-10s %s\n' "$1" "$2" >&2; }
act() { printf 'weft: %-10s %s\n' "$1" "$2" >&2; }
warn() { printf 'weft: %-10s WARNING: %s\n' "$1" "$2" >&2; }
die() { printf 'weft: %-10s ERROR: %s\n' "$1" "$2" >&2; exit 1; }
need() { MISSING+=("$1"); }
have() { command -v "$1" >/dev/null 2>&1; }

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# Waits for a command to succeed; the services we start give no other signal that they are ready.
wait_for() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

APT_UPDATED=false
apt_install() {
  if ! $IS_ROOT; then
    need "sudo apt-get install -y $*"
    return 1
  fi
  have apt-get || die apt "no apt-get: install $* with your package manager, then run this again"
  if ! $APT_UPDATED; then
    act apt "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || die apt "apt-get update failed"
    APT_UPDATED=true
  fi
  act apt "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 || die apt "apt-get install $* failed"
}

# ---- Docker engine with runsc -----------------------------------------------------------------------------
DOCKER_RUNTIMES=""
docker_ready() { DOCKER_RUNTIMES=$(docker info --format '{{json .Runtimes}}' 2>/dev/null); }

# gVisor: a current runsc built through the Go module proxy; Debian's (a December 2022 build) only as the fallback.
RUNSC_MODULE=gvisor.dev/gvisor/runsc
RUNSC_VERSION=v0.0.0-20260905035102-160fafc42237
DEBIAN_RUNSC=/usr/bin/runsc
RUNSC_BIN=""   # the runsc to register
RUNSC_ABOUT="" # which build it is, for the log
RUNSC_ARGS=()  # its runtimeArgs in daemon.json

# The registration Docker reports, e.g. {"path":"/usr/bin/runsc","runtimeArgs":["--network=none"]}.
registered_runsc() { docker info --format '{{json (index .Runtimes "runsc")}}' 2>/dev/null || true; }
runsc_ready() { docker_ready && [[ $DOCKER_RUNTIMES == *'"runsc"'* ]]; }
# Docker's view of the registration, once it has loaded the one we want.
runsc_registered() { docker_ready && [[ $(registered_runsc) == "$(runsc_registration)" ]]; }

runsc_registration() {
  local args=""
  ((${#RUNSC_ARGS[@]})) && args=$(printf ',"%s"' "${RUNSC_ARGS[@]}")
  printf '{"path":"%s","runtimeArgs":[%s]}' "$RUNSC_BIN" "${args#,}"
}

# `go install` leaves runsc's own version unset (VERSION_MISSING); the module version is in its build info.
runsc_is_current() { [[ -n $1 && -x $1 ]] && grep -qaF "gvisor.dev/gvisor"$'\t'"$RUNSC_VERSION" "$1"; }

find_current_runsc() {
  local c
  for c in "$(gopath_bin)/runsc" "$(command -v runsc 2>/dev/null || true)"; do
    runsc_is_current "$c" && { RUNSC_BIN=$c; return 0; }
  done
  return 1
}

build_runsc() {
  $IS_ROOT || return 1 # only root can register it; a user is told what to do instead
  ensure_go || return 1
  act runsc "CGO_ENABLED=0 go install $RUNSC_MODULE@$RUNSC_VERSION (under 3 minutes)"
  CGO_ENABLED=0 "$GO_BIN" install "$RUNSC_MODULE@$RUNSC_VERSION" >&2 || { warn runsc "go install failed"; return 1; }
  find_current_runsc
}

use_debian_runsc() {
  [[ -x $DEBIAN_RUNSC ]] || apt_install runsc || return 1
  RUNSC_BIN=$DEBIAN_RUNSC
  RUNSC_ABOUT="Debian's runsc $("$RUNSC_BIN" --version 2>/dev/null | head -1 | sed 's/^runsc version //'), the fallback"
  warn runsc "running Debian's old runsc: build the current one with CGO_ENABLED=0 go install $RUNSC_MODULE@$RUNSC_VERSION"
}

# The flag list is read whole first: with pipefail, `grep -q` closing the pipe early would make runsc die of
# SIGPIPE and the test fail at random.
runsc_has_flag() {
  local flags
  flags=$("$RUNSC_BIN" flags 2>&1) || true
  grep -qE "^[[:space:]]+-$1([[:space:]]|$)" <<<"$flags"
}

# --oci-seccomp makes the sandbox apply the container's seccomp profile (without it gVisor ignores it);
# --host-uds=open lets a sandbox connect to a Unix socket bind-mounted into it, and create none.
choose_runsc_args() {
  RUNSC_ARGS=(--network=none)
  if runsc_has_flag oci-seccomp; then
    RUNSC_ARGS+=(--oci-seccomp)
  else
    warn runsc "$RUNSC_BIN has no --oci-seccomp: gVisor containers run without their seccomp filter"
  fi
  runsc_has_flag host-uds && RUNSC_ARGS+=(--host-uds=open)
  return 0
}

choose_runsc() {
  if find_current_runsc || build_runsc; then
    RUNSC_ABOUT="gVisor $RUNSC_VERSION"
  else
    use_debian_runsc || return 1
  fi
  choose_runsc_args
}

# Sets the runsc runtime in daemon.json, keeping every other key; exits 10 when the file changed.
register_runsc() {
  local file=${1:-/etc/docker/daemon.json}
  node - "$file" "$(runsc_registration)" <<'EOF'
const fs = require("node:fs");
const path = require("node:path");
const [file, wanted] = process.argv.slice(-2);
const runsc = JSON.parse(wanted);
let cfg = {};
if (fs.existsSync(file)) {
  const text = fs.readFileSync(file, "utf8").trim();
  try { cfg = text ? JSON.parse(text) : {}; } catch (e) { console.error(`${file} is not valid JSON: ${e.message}`); process.exit(1); }
}
cfg.runtimes ??= {};
if (JSON.stringify(cfg.runtimes.runsc) === JSON.stringify(runsc)) process.exit(0);
cfg.runtimes.runsc = runsc;
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, JSON.stringify(cfg, null, 2) + "\n");
process.exit(10);
EOF
}

# A pid file names a live daemon only if that pid is still the program it names: after a crash or a
# reboot without /run cleared, the pid may belong to something else, and dockerd then waits 60 s for a
# "still running" containerd that is not there.
pid_file_names() { [[ -f $1 ]] && [[ $(cat "/proc/$(cat "$1")/comm" 2>/dev/null) == "$2" ]]; }
dockerd_running() { pid_file_names /var/run/docker.pid dockerd; }
clear_stale_pid_file() {
  if [[ -f $1 ]] && ! pid_file_names "$1" "$2"; then
    act docker "removing the stale pid file $1"
    rm -f "$1"
  fi
}

start_dockerd() {
  if dockerd_running; then
    act docker "waiting for the running dockerd to answer"
  elif [[ -d /run/systemd/system ]]; then
    act docker "systemctl start docker"
    systemctl start docker
  else
    clear_stale_pid_file /var/run/docker.pid dockerd
    clear_stale_pid_file /var/run/docker/containerd/containerd.pid containerd
    act docker "starting dockerd (log: $LOG_DIR/weft-dockerd.log)"
    setsid nohup dockerd >>"$LOG_DIR/weft-dockerd.log" 2>&1 </dev/null &
  fi
  wait_for 60 docker_ready || die docker "dockerd did not answer within 60 s; see $LOG_DIR/weft-dockerd.log"
}

# dockerd reloads its runtimes on SIGHUP, which keeps running containers (they keep the runsc they started
# with); a restart is the fallback.
reload_dockerd() {
  if [[ -d /run/systemd/system ]]; then
    act docker "systemctl reload docker (runsc registration changed)"
    systemctl reload docker || systemctl restart docker
  elif [[ -f /var/run/docker.pid ]]; then
    act docker "reloading dockerd (runsc registration changed)"
    kill -HUP "$(cat /var/run/docker.pid)"
  fi
  if wait_for 10 runsc_registered; then return 0; fi
  # A restart stops every container on the engine: only when runsc is missing altogether.
  if runsc_ready; then
    warn docker "dockerd reports runsc as $(registered_runsc), not $(runsc_registration): is something else editing daemon.json?"
    return 0
  fi
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  act docker "restarting dockerd"
  [[ -n $pid ]] && kill -TERM "$pid" && wait_for 30 bash -c "! kill -0 $pid 2>/dev/null"
  start_dockerd
}

find_binary() { command -v "$1" 2>/dev/null || { [[ -x /usr/sbin/$1 ]] && echo "/usr/sbin/$1"; }; }

ensure_docker() {
  if $IS_ROOT; then
    install_docker || return 0
    choose_runsc || { need "runsc: neither the current build nor Debian's package could be installed"; return 0; }
    configure_docker || return 0
  elif ! runsc_ready; then
    configure_docker || return 0
  fi
  say docker "ok ($(docker version --format '{{.Server.Version}}' 2>/dev/null), runtimes runc + runsc)"
  report_runsc
}

install_docker() {
  { have docker && find_binary dockerd >/dev/null; } || apt_install docker.io
}

configure_docker() {
  local changed=false
  if $IS_ROOT; then
    register_runsc || { [[ $? == 10 ]] && changed=true && act docker "registered runsc in /etc/docker/daemon.json: $(runsc_registration)"; } || die docker "could not update /etc/docker/daemon.json"
  fi
  if docker_ready; then
    # Also when daemon.json was edited by hand and never loaded.
    if $changed || { $IS_ROOT && ! runsc_registered; }; then reload_dockerd; fi
  elif $IS_ROOT; then
    start_dockerd
  else
    local why
    why=$(docker info 2>&1 >/dev/null | tail -1 || true)
    if [[ $why == *"permission denied"* ]]; then
      need "give $(id -un) access to Docker: sudo usermod -aG docker $(id -un)  (then log in again)"
    else
      need "start the Docker engine: sudo dockerd  (or: sudo systemctl start docker)"
    fi
    return 1
  fi
  if [[ $DOCKER_RUNTIMES != *'"runsc"'* ]]; then
    need "register gVisor with Docker: run this script as root (it builds a current runsc and registers it with --network=none --oci-seccomp)"
    return 1
  fi
}

# Always printed: which runsc the gVisor containers run, and with which flags.
report_runsc() {
  local registered path
  registered=$(registered_runsc)
  if [[ -z $RUNSC_BIN ]]; then # not root: describe what Docker has
    path=$(sed -n 's/.*"path":"\([^"]*\)".*/\1/p' <<<"$registered")
    RUNSC_BIN=$path
    if runsc_is_current "$path"; then RUNSC_ABOUT="gVisor $RUNSC_VERSION"; else RUNSC_ABOUT="not the current build"; fi
    [[ $registered == *'--oci-seccomp'* && $RUNSC_ABOUT != "not"* ]] ||
      warn runsc "Docker's runsc is $registered; as root, this script registers gVisor $RUNSC_VERSION with --oci-seccomp"
  fi
  act runsc "$RUNSC_BIN ($RUNSC_ABOUT), registered as $registered"
}

# ---- Go, for the two servers we build from source -----------------------------------------------------------
GO_BIN=""
go_version_ok() { # Go >= 1.21 fetches the toolchain a module asks for by itself.
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  ((major > 1 || (major == 1 && minor >= 21)))
}

find_go() {
  local c
  for c in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [[ -n $c && -x $c ]] && go_version_ok "$c" && { GO_BIN=$c; return 0; }
  done
  return 1
}

# A modern toolchain is itself a Go module (golang.org/toolchain), so an old distribution Go can fetch it.
bootstrap_go() {
  local old=$1 arch dir
  arch=$("$old" env GOARCH)
  act go "fetching Go $GO_BOOTSTRAP_VERSION through the Go module proxy"
  dir=$("$old" mod download -json "golang.org/toolchain@v0.0.1-go$GO_BOOTSTRAP_VERSION.linux-$arch" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -x $dir/bin/go ]] || return 1
  GO_BIN=$dir/bin/go
}

ensure_go() {
  [[ -n $GO_BIN ]] && return 0
  find_go && return 0
  $IS_ROOT || return 1 # the caller says what to install
  have go || apt_install golang-go
  find_go && return 0
  bootstrap_go "$(command -v go)"
}

gopath_bin() {
  if [[ -n $GO_BIN ]]; then echo "$("$GO_BIN" env GOPATH | cut -d: -f1)/bin"; else echo "${GOPATH:-$HOME/go}/bin"; fi
}

# ---- nats-server ---------------------------------------------------------------------------------------------
NATS_BIN=""
find_nats() {
  local c
  for c in "${WEFT_NATS_SERVER_BIN:-}" "$(command -v nats-server 2>/dev/null || true)" "$(gopath_bin)/nats-server"; do
    [[ -n $c && -x $c ]] && { NATS_BIN=$c; return 0; }
  done
  return 1
}

ensure_nats_server() {
  find_nats || build_nats || install_nats_package || return 0
  say nats "ok ($NATS_BIN, $("$NATS_BIN" --version 2>&1 | head -1))"
}

build_nats() {
  ensure_go || return 1
  act nats "go install github.com/nats-io/nats-server/v2@$NATS_VERSION (about a minute)"
  "$GO_BIN" install "github.com/nats-io/nats-server/v2@$NATS_VERSION" >&2 || { warn nats "go install failed"; return 1; }
  find_nats
}

# The distribution's 2.9 has JetStream; it is the fallback when Go cannot build the pinned version.
install_nats_package() {
  if $IS_ROOT; then
    apt_install nats-server && find_nats
  else
    need "nats-server: install Go >= 1.21 (https://go.dev/doc/install), then: go install github.com/nats-io/nats-server/v2@$NATS_VERSION  (or: sudo apt-get install -y nats-server)"
    return 1
  fi
}

# ---- MongoDB wire-protocol server ------------------------------------------------------------------------
FERRET_BIN=""
# FerretDB 1.24's SQLite backend looks _id up with `->'$._id'` while its _id index is built on `->"_id"`, so
# SQLite never uses the index and every find, update or delete by _id scans the whole table. Weft builds it
# with the look-up written as the index is (`->'_id'`, the same JSON path), and marks the build in its version.
FERRETDB_PATCH=weft.1
# The version is read whole first: with pipefail, `grep -q` closing the pipe early could make ferretdb die of SIGPIPE
# and the check fail at random (the binary then went unrecorded in .weft/env, and the bench's private FerretDB failed).
ferretdb_is_patched() { local v; v=$("$1" --version 2>/dev/null) || return 1; [[ $v == *"-$FERRETDB_PATCH"* ]]; }
find_ferretdb() {
  local c
  for c in "${WEFT_FERRETDB_BIN:-}" "$(command -v ferretdb 2>/dev/null || true)" "$(gopath_bin)/ferretdb" \
    "$(gopath_bin)/ferretdb-$FERRETDB_PATCH"; do
    [[ -n $c && -x $c ]] && ferretdb_is_patched "$c" && { FERRET_BIN=$c; return 0; }
  done
  return 1
}

# `go install` of FerretDB fails (its module list cannot be read), so build it from the downloaded module.
build_ferretdb() {
  local version=$1 src build out
  src=$("$GO_BIN" mod download -json "github.com/FerretDB/FerretDB@$version" 2>/dev/null | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || return 1
  [[ -d $src ]] || return 1
  act ferretdb "building FerretDB $version from $src (a few minutes)"
  build=$(mktemp -d "${TMPDIR:-/tmp}/weft-ferretdb-build.XXXXXX")
  cp -r "$src/." "$build/"
  chmod -R u+w "$build"
  echo "$version-$FERRETDB_PATCH" >"$build/build/version/version.txt" # FerretDB panics at start without it
  sed -i "s|IDColumn = DefaultColumn + \"->'\\\$._id'\"|IDColumn = DefaultColumn + \"->'_id'\"|" \
    "$build/internal/backends/sqlite/metadata/metadata.go"
  grep -q "IDColumn = DefaultColumn + \"->'_id'\"" "$build/internal/backends/sqlite/metadata/metadata.go" || {
    rm -rf "$build"
    return 1
  }
  # A new name: an unpatched build may be running (a binary in use cannot be overwritten). Built beside it and
  # renamed into place, so a running copy or a concurrent build never sees a half-written file.
  out="$(gopath_bin)/ferretdb-$FERRETDB_PATCH"
  mkdir -p "$(dirname "$out")"
  (cd "$build" && CGO_ENABLED=0 "$GO_BIN" build -o "$out.$$" ./cmd/ferretdb) >&2 && mv -f "$out.$$" "$out"
  local rc=$?
  rm -rf "$build" "$out.$$"
  return $rc
}

ensure_ferretdb_bin() {
  find_ferretdb && return 0
  if ! ensure_go; then
    need "install Go >= 1.21 (https://go.dev/doc/install) to build FerretDB, or install mongod, or set MONGO_URL"
    return 1
  fi
  # One build at a time on the machine: several worktrees or test runs may start at once; the others wait for
  # it and then find the binary.
  mkdir -p "$(gopath_bin)"
  exec {ferret_lock}>"$(gopath_bin)/.ferretdb-build.lock"
  flock "$ferret_lock"
  local v
  for v in "${FERRETDB_VERSIONS[@]}"; do
    find_ferretdb && break
    build_ferretdb "$v" && find_ferretdb && break
  done
  flock -u "$ferret_lock"
  exec {ferret_lock}>&-
  [[ -n $FERRET_BIN ]] || die ferretdb "could not build FerretDB (tried ${FERRETDB_VERSIONS[*]})"
}

# ---- grpcurl (tests call the gateway through reflection exactly as the README shows) ------------------------
GRPCURL_VERSION=v1.9.3
GRPCURL_BIN=""
find_grpcurl() {
  local c
  for c in "${WEFT_GRPCURL_BIN:-}" "$(command -v grpcurl 2>/dev/null || true)" "$(gopath_bin)/grpcurl"; do
    [[ -n $c && -x $c ]] && { GRPCURL_BIN=$c; return 0; }
  done
  return 1
}

ensure_grpcurl() {
  find_grpcurl && return 0
  if ! ensure_go; then
    need "grpcurl (for the tests): install Go >= 1.21, then: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
    return 1
  fi
  act grpcurl "go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  "$GO_BIN" install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" >&2 || die grpcurl "go install failed"
  find_grpcurl
}

# ---- schemathesis (a test runs it against the gateway with GET /openapi.json) --------------------------------
SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_VENV=$WEFT_DIR/schemathesis
SCHEMATHESIS_BIN=""
find_schemathesis() {
  local bin=$SCHEMATHESIS_VENV/bin/schemathesis
  # The stamp is written only after a complete install of exactly this version.
  [[ -x $bin && $(cat "$SCHEMATHESIS_VENV/.weft-version" 2>/dev/null) == "$SCHEMATHESIS_VERSION" ]] || return 1
  SCHEMATHESIS_BIN=$bin
}

ensure_schemathesis() {
  find_schemathesis && return 0
  local py
  py=$(command -v python3 2>/dev/null) || { need "python3 (>= 3.9), for schemathesis"; return 1; }
  if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3-venv
    "$py" -c 'import venv, ensurepip' 2>/dev/null || { need "python3-venv, for schemathesis"; return 1; }
  fi
  act schemathesis "pip install schemathesis==$SCHEMATHESIS_VERSION into ${SCHEMATHESIS_VENV#"$ROOT_DIR"/}"
  rm -rf "$SCHEMATHESIS_VENV"
  "$py" -m venv "$SCHEMATHESIS_VENV" >&2 || die schemathesis "python3 -m venv failed"
  "$SCHEMATHESIS_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2 ||
    die schemathesis "pip install schemathesis==$SCHEMATHESIS_VERSION failed"
  echo "$SCHEMATHESIS_VERSION" >"$SCHEMATHESIS_VENV/.weft-version"
  find_schemathesis
}

# ---- Docker Compose v2 (deploy/compose) ------------------------------------------------------------------------
COMPOSE_MODULE=github.com/docker/compose/v2
COMPOSE_VERSION=v2.40.3
COMPOSE_BIN=""
compose_is_v2() { [[ $("$1" version --short 2>/dev/null) == 2.* ]]; }
find_compose() {
  local c
  for c in "${WEFT_COMPOSE_BIN:-}" "$(gopath_bin)/docker-compose" "$(command -v docker-compose 2>/dev/null || true)"; do
    [[ -n $c && -x $c ]] && compose_is_v2 "$c" && { COMPOSE_BIN=$c; return 0; }
  done
  return 1
}

# `go install $COMPOSE_MODULE/cmd@$COMPOSE_VERSION` is refused (its go.mod has exclude directives), so, as for
# FerretDB, build ./cmd inside the downloaded module, where its go.mod applies.
build_compose() {
  local src build out
  src=$("$GO_BIN" mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" 2>/dev/null | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || return 1
  [[ -d $src ]] || return 1
  act compose "building Docker Compose $COMPOSE_VERSION from $src (5 to 10 minutes on 2 cores)"
  build=$(mktemp -d "${TMPDIR:-/tmp}/weft-compose-build.XXXXXX")
  cp -r "$src/." "$build/"
  chmod -R u+w "$build"
  out="$(gopath_bin)/docker-compose"
  mkdir -p "$(dirname "$out")"
  (cd "$build" && CGO_ENABLED=0 "$GO_BIN" build -trimpath -ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" -o "$out" ./cmd) >&2
  local rc=$?
  rm -rf "$build"
  return $rc
}

# Also as the docker CLI plugin, so `docker compose` works (root only: the plugin directory is system-wide).
link_compose_plugin() {
  $IS_ROOT || return 0
  local dir=/usr/local/lib/docker/cli-plugins
  [[ -e $dir/docker-compose ]] && return 0
  mkdir -p "$dir" && ln -s "$COMPOSE_BIN" "$dir/docker-compose" && act compose "linked as the docker CLI plugin: docker compose"
}

ensure_compose() {
  if ! find_compose; then
    if ! ensure_go; then
      need "Docker Compose v2: install Go >= 1.21, then run this script with --with-compose (or install docker-compose-plugin)"
      return 1
    fi
    build_compose && find_compose || die compose "could not build Docker Compose $COMPOSE_VERSION"
  fi
  link_compose_plugin
  say compose "ok ($COMPOSE_BIN, $("$COMPOSE_BIN" version --short))"
}

# ---- Chromium (the console's browser tests drive Debian's package; no browser download site is needed) ---------
CHROMIUM_BIN=""
find_chromium() {
  local c
  for c in "${WEFT_CHROMIUM_BIN:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    [[ -n $c && -x $c ]] && { CHROMIUM_BIN=$c; return 0; }
  done
  return 1
}

ensure_chromium() {
  find_chromium && return 0
  apt_install chromium || return 1
  find_chromium
}

# GOMAXPROCS of a Go server beside the fabric: $1 when above 0, else half the host's cores, at least 1
# (deploy/go-servers.ts says why).
server_gomaxprocs() {
  local n=${1:-0}
  if [[ $n =~ ^[0-9]{1,4}$ ]]; then n=$((10#$n)); else n=0; fi
  if ((n > 0)); then echo "$n"; else echo $(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 )); fi
}

start_ferretdb() {
  local dir=$STATE_DIR/ferretdb
  mkdir -p "$dir"
  act mongo "starting FerretDB (SQLite in $dir, log: $LOG_DIR/weft-ferretdb.log)"
  # Go's collector a quarter as often: about a fifth less FerretDB CPU per invocation record (README, Configuration);
  # half the host's cores as GOMAXPROCS, as for nats-server (deploy/go-servers.ts).
  # Under SCHED_BATCH unless WEFT_SCHED_BATCH is false, as Weft's own components run (README, Performance).
  local batch=()
  [[ ${WEFT_SCHED_BATCH:-true} =~ ^(false|0)$ ]] || ! chrt --batch 0 true 2>/dev/null || batch=(chrt --batch 0)
  GOGC=${WEFT_FERRETDB_GOGC:-400} GOMAXPROCS=$(server_gomaxprocs "${WEFT_FERRETDB_GOMAXPROCS:-0}") setsid nohup "${batch[@]}" "$FERRET_BIN" --handler=sqlite "--sqlite-url=file:$dir/" "--state-dir=$dir" \
    "--listen-addr=127.0.0.1:$MONGO_PORT" --debug-addr=- --telemetry=disable --log-level=warn \
    >>"$LOG_DIR/weft-ferretdb.log" 2>&1 </dev/null &
}

start_mongod() {
  local dir=$STATE_DIR/mongo
  mkdir -p "$dir"
  act mongo "starting mongod (data in $dir, log: $LOG_DIR/weft-mongod.log)"
  mongod --dbpath "$dir" --bind_ip 127.0.0.1 --port "$MONGO_PORT" --fork --logpath "$LOG_DIR/weft-mongod.log" >/dev/null
}

MONGO_IN_USE=""
ensure_mongo() {
  if [[ -n ${MONGO_URL:-} ]]; then
    MONGO_IN_USE=$MONGO_URL
    say mongo "using MONGO_URL=$MONGO_URL"
    return 0
  fi
  MONGO_IN_USE="mongodb://127.0.0.1:$MONGO_PORT"
  if port_open 127.0.0.1 "$MONGO_PORT"; then
    say mongo "ok (reusing the server listening on 127.0.0.1:$MONGO_PORT)"
    return 0
  fi
  mkdir -p "$LOG_DIR"
  if have mongod; then
    start_mongod
  elif ensure_ferretdb_bin; then
    start_ferretdb
  else
    return 0
  fi
  wait_for 30 port_open 127.0.0.1 "$MONGO_PORT" || die mongo "no listener on 127.0.0.1:$MONGO_PORT after 30 s; see $LOG_DIR"
  say mongo "ok ($MONGO_IN_USE)"
}

# ---- images ---------------------------------------------------------------------------------------------
# The base is a minimal Debian made by debootstrap and imported, so no container registry is needed; it has
# the full python3 (not python3-minimal, which lacks json and asyncio) so building the runtimes needs no network.
build_base_image() { # SUITE IMAGE
  local suite=$1 image=$2
  if ! $IS_ROOT; then
    need "build the base image $image (needs root for debootstrap): sudo bash deploy/services.sh --images-only"
    return 1
  fi
  have debootstrap || apt_install debootstrap
  [[ -f /usr/share/debootstrap/scripts/$suite ]] || apt_install debootstrap
  local rootfs log="$LOG_DIR/weft-debootstrap-$suite.log"
  mkdir -p "$STATE_DIR"
  rootfs=$(mktemp -d "$STATE_DIR/rootfs.XXXXXX")
  act image "debootstrap $suite into $rootfs (about a minute)"
  debootstrap --variant=minbase --include=python3,nodejs "$suite" "$rootfs" "$DEBIAN_MIRROR" >"$log" 2>&1 ||
    { rm -rf "$rootfs"; die image "debootstrap $suite failed; see $log"; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  act image "docker import $image"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$image" >/dev/null ||
    { rm -rf "$rootfs"; die image "docker import failed"; }
  rm -rf "$rootfs"
}

# A base is built once and then found by its tag in the engine, as a cache: delete the tag to rebuild it.
ensure_base_image() { # SUITE IMAGE
  if docker image inspect "$2" >/dev/null 2>&1 || build_base_image "$1" "$2"; then
    say image "ok ($2)"
  else
    return 1
  fi
}

ensure_images() {
  docker_ready || return 0 # Docker's absence is already reported
  ensure_base_image bookworm "$BASE_IMAGE" || return 0
  ensure_base_image trixie "$TRIXIE_BASE_IMAGE" || return 0
  if [[ ! -f $ROOT_DIR/deploy/images.ts ]]; then
    warn image "deploy/images.ts not found: runtime images not built"
    return 0
  fi
  [[ -d $ROOT_DIR/node_modules/tsx ]] || die image "node_modules missing: run npm ci first"
  (cd "$ROOT_DIR" && WEFT_BASE_IMAGE=$BASE_IMAGE WEFT_BASE_IMAGE_TRIXIE=$TRIXIE_BASE_IMAGE \
    node --import tsx deploy/images.ts "${IMAGE_ARGS[@]}") >&2 || die image "deploy/images.ts failed"
  say image "ok (runtime images)"
}

# ---- .weft/env --------------------------------------------------------------------------------------------
write_env_file() {
  mkdir -p "$WEFT_DIR"
  local tmp=$ENV_FILE.tmp.$$
  {
    echo "# Written by deploy/services.sh; read by npm test, npm run up and npm run bench."
    echo "WEFT_STATE_DIR=$STATE_DIR"
    echo "WEFT_BASE_IMAGE=$BASE_IMAGE"
    echo "WEFT_BASE_IMAGE_TRIXIE=$TRIXIE_BASE_IMAGE"
    [[ -n $NATS_BIN ]] && echo "WEFT_NATS_SERVER_BIN=$NATS_BIN"
    [[ -n $FERRET_BIN ]] && echo "WEFT_FERRETDB_BIN=$FERRET_BIN"
    [[ -n $GRPCURL_BIN ]] && echo "WEFT_GRPCURL_BIN=$GRPCURL_BIN"
    [[ -n $SCHEMATHESIS_BIN ]] && echo "WEFT_SCHEMATHESIS_BIN=$SCHEMATHESIS_BIN"
    [[ -n $COMPOSE_BIN ]] && echo "WEFT_COMPOSE_BIN=$COMPOSE_BIN"
    [[ -n $CHROMIUM_BIN ]] && echo "WEFT_CHROMIUM_BIN=$CHROMIUM_BIN"
    [[ -n $MONGO_IN_USE ]] && echo "MONGO_URL=$MONGO_IN_USE" && echo "WEFT_MONGO_URL=$MONGO_IN_USE"
    true
  } >"$tmp"
  mv "$tmp" "$ENV_FILE"
}

main() {
  local started=$SECONDS
  have node || die node "node (>= 20) is needed: install Node.js 20, then npm ci"
  mkdir -p "$LOG_DIR"
  ensure_docker
  if $WITH_RUNTIME; then
    ensure_nats_server
    ensure_mongo
    # Tests that stop and restart MongoDB start a private FerretDB, whatever serves 27017.
    if $FOR_TESTS; then
      ensure_ferretdb_bin || true
      ensure_grpcurl || true
      ensure_schemathesis || true
      ensure_chromium || true
    else
      find_ferretdb || true
    fi
  fi
  if $WITH_COMPOSE; then ensure_compose || true; else find_compose || true; fi
  $WITH_IMAGES && ensure_images
  if ((${#MISSING[@]})); then
    echo "weft: these are missing; run this script as root to install them, or do it yourself:" >&2
    printf '  - %s\n' "${MISSING[@]}" >&2
    exit 1
  fi
  if $WITH_RUNTIME; then
    write_env_file
    act ready "in $((SECONDS - started)) s; environment written to ${ENV_FILE#"$ROOT_DIR"/} (MONGO_URL=$MONGO_IN_USE)"
  fi
}

# Sourcing the file (to try one step by hand) defines the steps without running them.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main; fi
