#!/usr/bin/env bash
# What a failed CI run needs to say about a process that died of a signal (a vitest worker
# ending with "Worker exited unexpectedly with signal SIGILL", say): V8's or Node's own last
# words, wherever they landed in the log; the machine (a CPU unlike the one the suite usually
# runs on is a lead of its own); and, when a core file was left and gdb is there, the crashing
# thread's stack and the instruction it stopped at (`ud2` is V8 failing one of its own checks;
# anything else is an instruction this CPU refused).
#
#   scripts/crash-report.sh LOG [DIR]   LOG: the run's output; DIR: where core files may be (.)
#
# Prints at most about 120 lines, and nothing when the log shows no crash. Core files found are
# removed once read (they are hundreds of MB).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log="$1"
dir="${2:-.}"
pattern='Fatal error in|Check failed|FATAL ERROR|Native stack trace|Segmentation fault|Illegal instruction|exited unexpectedly|with signal SIG'
cores=$(find "$dir" -maxdepth 2 -type f \( -name core -o -name 'core.[0-9]*' \) -size +1M 2>/dev/null | head -3)
if ! grep -a -q -E "$pattern" "$log" && [ -z "$cores" ]; then exit 0; fi

echo
echo "== crash report (scripts/crash-report.sh)"
echo "-- lines about a crash in the output (first 60, with the 8 lines after each):"
grep -a -n -E -A 8 "$pattern" "$log" | cut -c1-240 | head -60
echo "-- machine:"
echo "kernel $(uname -r), $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024) " MiB"}' /proc/meminfo)"
grep -m1 'model name' /proc/cpuinfo
grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|sse4|bmi|fma|f16c|lzcnt|popcnt|sha)' | tr '\n' ' '
echo
# The tests run on the provisioned Node when there is one (scripts/with-tools.sh).
nodebin="$ROOT/.tools/bin/node"
[ -x "$nodebin" ] || nodebin="$(command -v node)"
echo "node $("$nodebin" --version 2>/dev/null) ($nodebin); core pattern: $(cat /proc/sys/kernel/core_pattern 2>/dev/null)"
for core in $cores; do
  echo "-- core file $core ($(du -m "$core" | cut -f1) MiB)"
  if command -v gdb >/dev/null; then
    exe=$(readlink -f "$nodebin")
    timeout 120 gdb -q -batch -ex 'bt 15' -ex 'x/3i $pc' -ex 'info registers rip' \
      "$exe" "$core" 2>&1 | grep -v -E '^\[New LWP|^warning:|^$|libthread_db|No such file or directory' | cut -c1-200 | head -45
  else
    echo "(no gdb on this machine: the core is not read)"
  fi
  rm -f "$core"
done
