# Example user script for `bench script` (runs in L1 as root).
# Usage: bench script --topology cxl --l1 resources/examples/hello-l1.sh \
#          --file resources/examples/hello.txt:/root/hello.txt
set -eu
echo "L1 kernel: $(uname -r)"
grep -q 'hello from the host' /root/hello.txt || { echo "extra file missing" >&2; exit 1; }
echo "extra file arrived: $(cat /root/hello.txt)"
ls /l2/vmlinuz /l2/initramfs
command -v doectl
