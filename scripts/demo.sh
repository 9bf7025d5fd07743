#!/usr/bin/env bash
# The main job, as a demo: set up the nested bench (idempotent), boot L1 under QEMU/TCG with
# a CXL type-3 device, read its DOE mailbox with doectl (Discovery and CDAT), then boot an L2
# guest through our vmm with that device assigned via VFIO: the guest's Linux DOE driver and
# doectl read the CDAT through the virtual DOE mailbox (L2 on Debian's 6.12 and on 7.x).
set -euo pipefail
cd "$(dirname "$0")/.."
bench() { cargo run -q --locked -p guest-tests --bin bench -- "$@"; }
bench setup --sid-kernel
bench run host-cxl guest-doe
