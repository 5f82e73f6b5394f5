#!/usr/bin/env bash
# Builds and runs every test project, then prints one closing line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
dotnet build DTrust.sln -c Release -v q -nologo 2>&1 | tail -n 30
build=${PIPESTATUS[0]}
if [ "$build" -ne 0 ]; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
# Style is part of the build contract (warnings are errors; formatting too).
format_failed=0
if ! dotnet format DTrust.sln --verify-no-changes --no-restore -v q; then
  echo "dotnet format --verify-no-changes: the tree is not formatted (run 'make format')"
  format_failed=1
fi
dotnet test DTrust.sln -c Release --no-build -nologo 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# vstest prints one summary a project: "Passed!  - Failed: 0, Passed: 12, Skipped: 0, Total: 12, ..."
sum() { grep -E '^(Passed|Failed)!' "$log" | grep -oE "$1: +[0-9]+" | awk '{ n += $2 } END { print n + 0 }'; }
passed=$(sum Passed); failed=$(sum Failed); skipped=$(sum Skipped)
projects=$(find tests -name '*.Tests.csproj' | wc -l)
summaries=$(grep -c -E '^(Passed|Failed)!' "$log" || true)
rm -f "$log"
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # a test host crashed or a project produced no summary: never report green
fi
if [ "$summaries" -lt "$projects" ]; then
  echo "only $summaries of $projects test projects reported a result"
  [ "$failed" -eq 0 ] && failed=1
fi
failed=$((failed + format_failed))
echo "$passed passed, $failed failed, $skipped skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
