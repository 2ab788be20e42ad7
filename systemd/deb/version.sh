#!/bin/sh
# Prints the Debian package version for this checkout: the nearest vX.Y.Z
# tag from git describe, made Debian-valid (v1.2.3-4-gabc1234-dirty becomes
# 1.2.3+4.gabc1234.dirty), or 0.0.0~dev when there is no such tag.
# An argument replaces git describe's output (used by the tests).
set -eu
if [ $# -gt 0 ]; then
	d=$1
else
	d=$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || true)
fi
v=$(printf '%s' "$d" | sed -e 's/^v//' -e 's/-/+/' -e 's/-/./g')
case "$v" in
'' | *[!A-Za-z0-9.+~]*) v=0.0.0~dev ;;
[0-9]*) ;;
*) v=0.0.0~dev ;;
esac
printf '%s\n' "$v"
