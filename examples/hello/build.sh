#!/bin/sh
# The example's "build system": copy the sources into dist/.
set -e
rm -rf dist
mkdir -p dist
cp -R src/. dist/
