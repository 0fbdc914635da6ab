#!/usr/bin/env bash
# Installs every Debian package ArenaMesh needs to build (and, with --test, to
# run its tests), then the npm test tooling. Idempotent: when everything is
# present it only asks dpkg and returns.
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

build_pkgs=(build-essential cmake pkg-config
    libczmq-dev libzmq3-dev libmsgpack-dev libwebsockets-dev libmicrohttpd-dev
    libjansson-dev libsodium-dev libsqlite3-dev libcurl4-openssl-dev
    g++ libvalijson-dev nlohmann-json3-dev # protocol/schema.cc: JSON Schema (header-only C++)
    libjs-chart.js) # Chart.js, compiled into arena-node for the dashboard (GET /assets/chart.js)
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev clang-format curl procps chromium
    nftables iproute2 # tests/integration/netns.test.mjs: namespaces, veth, packet loss
    prometheus # tests/integration/metrics.test.mjs: promtool check metrics, a real scrape
    sqlite3 # tests/integration/replication.test.mjs, usage.test.mjs: a stopped node's store, its raw usage rows
    systemd groff-base man-db # tests/integration/install.test.mjs: systemd-analyze verify, man page lint
    lintian dpkg-dev # tests/integration/package.test.mjs: make deb (dpkg-shlibdeps), the package's lint
    unzip # tests/unit/test_extension.c, tests/e2e/browser.test.mjs: GET /extension.zip read back
    fonts-noto-color-emoji) # so screenshots show the ✅/⏳ title prefixes

pkgs=("${build_pkgs[@]}")
[ $want_test = 1 ] && pkgs+=("${test_pkgs[@]}")
if [ $want_test = 1 ] && ! command -v node >/dev/null 2>&1; then
    pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    # Debian's prometheus package starts its own service on :9090 where systemd
    # runs; the tests start theirs on loopback, so one we installed is stopped.
    if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 &&
        systemctl is-enabled prometheus.service >/dev/null 2>&1; then
        $sudo systemctl disable --now prometheus.service || true
    fi
fi

if [ $want_test = 1 ]; then
    here="$(cd "$(dirname "$0")/.." && pwd)"
    # The client libraries tests/integration runs (LangChain's above all) need
    # the Node its package.json names in "engines"; older ones fail obscurely.
    need="$(sed -n 's/.*"node": *">=\([0-9]*\)".*/\1/p' "$here/tests/integration/package.json" | head -n1)"
    have="$(node -p 'process.versions.node.split(".")[0]')"
    if [ -n "$need" ] && [ "$have" -lt "$need" ]; then
        echo "bootstrap: Node $(node --version) is older than the >=$need tests/integration needs;" \
            "install Node $need or newer (Debian's own nodejs is too old before trixie)" >&2
        exit 1
    fi
    for dir in tests/integration tests/e2e; do
        [ -f "$here/$dir/package.json" ] || continue
        stamp="$here/$dir/node_modules/.arena-stamp"
        if [ ! -f "$stamp" ] || [ "$here/$dir/package-lock.json" -nt "$stamp" ]; then
            echo "bootstrap: npm ci in $dir"
            (cd "$here/$dir" && npm ci --no-audit --no-fund --loglevel=error)
            touch "$stamp"
        fi
    done
fi
