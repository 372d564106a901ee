#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian bookworm machine:
# PostgreSQL (second backend), etcd 3.5 server and etcdctl from trixie (the
# reference peer), kubectl (from trixie if missing), protobuf-compiler and libprotobuf-dev,
# openssl, and the Python test clients (requirements-test.txt).
# Idempotent: a machine that already has everything does no network work.
set -euo pipefail

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
# etcd-client's build script runs protoc on etcd's protos, which import the
# well-known types (google/protobuf/descriptor.proto) that only this ships.
[ -f /usr/include/google/protobuf/descriptor.proto ] || need+=(libprotobuf-dev)
# The API server's tests drive kubectl (1.32 from trixie when missing).
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
# The Python test clients need python3 and pip (the machine's own, e.g.
# pyenv's, when there is one).
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)

if [ ${#need[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${need[*]}"
  if ! grep -rqs 'trixie' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # Keep bookworm the default; trixie is only used where asked for with -t.
    cat > /etc/apt/preferences.d/trixie-pin <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  base=()
  trixie=()
  for p in "${need[@]}"; do
    case "$p" in
      etcd-server|etcd-client|kubernetes-client) trixie+=("$p") ;;
      *) base+=("$p") ;;
    esac
  done
  [ ${#base[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${base[@]}"
  [ ${#trixie[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends -t trixie "${trixie[@]}"
fi

# Python packages the tests drive as real third-party peers: PyJWT for the
# JWT tests, the official `kubernetes` client for the API server's. Installed
# when one is missing or differs from its pin in requirements-test.txt.
requirements="$(dirname "$0")/../requirements-test.txt"
if ! python3 - "$requirements" >/dev/null 2>&1 <<'PY'
import importlib.metadata, re, sys
for line in open(sys.argv[1]):
    m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(==\s*(\S+))?", line.split("#")[0])
    if m and m.group(1):
        have = importlib.metadata.version(m.group(1))
        if m.group(3) and have != m.group(3):
            sys.exit(1)
PY
then
  echo "install-test-deps: installing requirements-test.txt"
  # Debian's own python3 refuses pip installs (PEP 668) unless told; pips
  # too old to know the setting ignore it.
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q -r "$requirements"
fi

# The Debian etcd-server package starts a system etcd on 2379; tests start
# their own on free ports, so a packaged one would only get in the way.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi
# Only a packaged etcd runs without --data-dir: the tests' own etcds (maybe
# of another test run on this machine) always pass one and must survive.
for pid in $(pgrep -x etcd || true); do
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--data-dir' || kill "$pid" 2>/dev/null || true
done

# Print the first line of each version without `| head`: under pipefail,
# head closing the pipe early kills the writer with SIGPIPE and fails the run.
v=$(etcd --version); echo "${v%%$'\n'*}"
v=$(etcdctl version); echo "${v%%$'\n'*}"
