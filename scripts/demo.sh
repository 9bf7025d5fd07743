#!/usr/bin/env bash
# The main job, as a demo: set up the nested bench (idempotent), boot L1 under QEMU/TCG with
# a CXL type-3 device, read its DOE mailbox with doectl (Discovery and CDAT), then boot an L2
# guest through our vmm with that device assigned via VFIO (its DOE hidden from the guest).
set -euo pipefail
cd "$(dirname "$0")/.."
bench() { cargo run -q --locked -p guest-tests --bin bench -- "$@"; }
bench setup
bench run host-cxl guest-boot
