#!/usr/bin/env bash
# CI helper: logs the lowest available memory (in 1 GB steps), and the biggest processes
# whenever it runs low. Usage: memwatch.sh LOG LOW_MB
log=${1:-/dev/stderr}; low_mb=${2:-3000}; shown=999999
while sleep 2; do
  avail=$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo)
  if (( avail + 1000 < shown )); then shown=$avail; echo "memwatch $(date +%T): ${avail} MB available" >>"$log"; fi
  if (( avail < low_mb )); then
    { echo "memwatch $(date +%T) LOW: ${avail} MB available"; ps -eo pid,rss,etimes,args --sort=-rss | head -8 | cut -c1-220; } >>"$log"
    sleep 10
  fi
done
