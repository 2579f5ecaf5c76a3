#!/usr/bin/env bash
# Installs what bootlab's tests and demo need on a Debian machine, as root: the Debian packages
# listed in .ci/apt.d/*.txt (only those missing) and the npm packages of package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "bootlab needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # Packages installed for tests must not start their daemons (dnsmasq, tftpd-hpa, snmpd, nginx):
  # policy-rc.d only while we install, and the services we installed are disabled afterwards, so
  # nothing takes UDP 67/69 or port 80 at the next boot.
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  trap '[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
  wanted=$(cat .ci/apt.d/*.txt | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)
  missing=()
  for p in $wanted; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for svc in dnsmasq tftpd-hpa nginx snmpd; do
      case " ${missing[*]} " in *" $svc "*|*" ${svc%-hpa} "*) ;; *) continue ;; esac
      if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
      command -v update-rc.d >/dev/null && update-rc.d "$svc" disable >/dev/null 2>&1 || true
    done
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# native helpers (e.g. the SO_BINDTODEVICE socket for DHCP), built with node-gyp against Node's headers
npm run --silent --if-present build:native
