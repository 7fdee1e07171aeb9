#!/usr/bin/env bash
# Set up eqprop-hw on a fresh Debian/Ubuntu machine: ngspice (binary + shared library) from apt,
# then this package with its test extra and every optional one (all: numba, scikit-learn,
# matplotlib, Dask), as the default test command needs. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=0
command -v ngspice >/dev/null 2>&1 || need_apt=1
python3 -c "import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library('ngspice') else 1)" \
    2>/dev/null || need_apt=1
if [ "$need_apt" = 1 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "setup: installing ngspice and libngspice0 with apt-get" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ngspice libngspice0 >&2
fi
if ! python3 -c "import eqprop_hw, pytest, hypothesis, sklearn, matplotlib, numba, distributed" \
        >/dev/null 2>&1 \
        || [ "${EQPROP_HW_REINSTALL:-0}" = 1 ]; then
    echo "setup: installing eqprop-hw with pip (editable, extras test,all)" >&2
    python3 -m pip install -q --disable-pip-version-check -e '.[test,all]' >&2
fi
