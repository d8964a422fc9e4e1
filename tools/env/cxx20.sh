#!/usr/bin/env bash
# C++ compiler wrapper used only while building mmcv from source.
# mmcv 2.1.0's setup.py forces -std=c++17, but torch >= 2.13 headers need C++20;
# -g0 drops debug info (the wheel shrinks from ~32 MB to ~1.4 MB).
args=()
for a in "$@"; do
  case "$a" in
    -std=c++17|-std=c++14) args+=("-std=c++20") ;;
    *) args+=("$a") ;;
  esac
done
exec "${MMPDEPTH_REAL_CXX:-g++}" "${args[@]}" -g0
