#!/usr/bin/env bash
# Installs the Debian 12 packages openhsm needs. Idempotent and non-interactive.
#   scripts/install-deps.sh          build + run packages
#   scripts/install-deps.sh --test   also the test packages
set -euo pipefail

pkgs=(build-essential cmake pkg-config libssl-dev openssl libsqlite3-dev libprotobuf-c-dev
      protobuf-c-compiler libjansson-dev libmicrohttpd-dev libedit-dev libyaml-dev libp11-kit-dev)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(libcmocka-dev python3 python3-pytest python3-pexpect clang libclang-rt-14-dev
           python3-cryptography awscli python3-boto3 python3-botocore
           python3-pykcs11 opensc softhsm2 gnutls-bin libengine-pkcs11-openssl)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
