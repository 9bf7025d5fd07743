# A script that fails on purpose: `bench script` must report it and exit 1.
echo "this script fails on purpose"
exit 7
