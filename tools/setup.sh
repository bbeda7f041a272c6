#!/usr/bin/env bash
# One script, two jobs, for a fresh Debian 12 machine as root:
#   tools/setup.sh app   install what the app needs, then open it on the course
#   tools/setup.sh test  install what the tests need, then run the whole suite
# Both are idempotent: a second run installs nothing new.
set -euo pipefail
mode="${1:-app}"; shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

apt_app=(python3 python3-venv python3-dev gcc iptables iproute2 bridge-utils busybox-static
         debootstrap conntrack procps kmod tcpdump libpcap0.8)
apt_test=(tmux docker.io tshark)

need_apt=()
pkgs=("${apt_app[@]}")
[[ "$mode" == test ]] && pkgs+=("${apt_test[@]}")
if [[ $(id -u) -eq 0 ]]; then
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p"); done
  if ((${#need_apt[@]})); then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    # docker.io is here for its CLI and for tests that start a sandboxed dockerd themselves:
    # its package scripts must not start a dockerd on the host (that would change the host's
    # network). policy-rc.d answering 101 tells them "not now".
    guard=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      guard=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' >"$guard"; chmod +x "$guard"
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    if [[ -n "$guard" ]]; then rm -f "$guard"; trap - EXIT; fi
  fi
else
  echo "setup: not root, skipping Debian packages (the app will replay recordings only)"
fi

# A venv keeps our Python packages off the system Python (Debian 12 forbids pip there).
py="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then "$py" -m venv .venv; fi
extra=""; [[ "$mode" == test ]] && extra="[test]"
stamp=".venv/.installed$extra"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  echo "setup: installing Python packages into .venv"
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e ".$extra"; } >.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2; exit 1
  fi
  touch "$stamp"
fi

case "$mode" in
  app)
    exec .venv/bin/dockerscope "$@"
    ;;
  test)
    export PATH="$here/.venv/bin:$PATH"
    echo "== ruff"; ruff check dockerscope screens tests bench
    echo "== mypy"; mypy
    echo "== pytest"
    set +e
    python -m pytest -q -p no:cacheprovider "$@"
    rc=$?
    set -e
    # 5 = no tests collected: treat as failure so an empty run never looks green.
    exit $rc
    ;;
  *)
    echo "usage: tools/setup.sh app|test [args...]" >&2; exit 2;;
esac
