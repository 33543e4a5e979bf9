#!/usr/bin/env bash
# CI helper: logs the lowest available memory, and the biggest processes whenever it runs low.
log=${1:-/dev/stderr}; low_mb=${2:-3000}; min=999999
while sleep 2; do
  avail=$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo)
  if (( avail < min )); then min=$avail; echo "$(date +%T) min MemAvailable ${min} MB" >>"$log"; fi
  if (( avail < low_mb )); then
    { echo "$(date +%T) LOW: ${avail} MB available"; ps -eo pid,rss,etimes,args --sort=-rss | head -8 | cut -c1-220; } >>"$log"
    sleep 10
  fi
done
