# shellcheck shell=bash
# Checks shared by the command-line tests (tests/**/*_test.sh), sourced once `work` names the test's
# temporary folder:
#   source "$(dirname "$0")/../support/cli_expect.sh"
# Every failed check prints a FAIL line and adds one to $failures; `finish NAME` ends the script with
# a summary line and an exit status that says whether every check passed.
: "${work:?cli_expect.sh: set work to the temporary folder of the test before sourcing it}"
failures=0

fail() {  # fail MESSAGE...: one failed check
  echo "FAIL: $*"
  failures=$((failures + 1))
}

expect() {  # expect CODE DESCRIPTION -- COMMAND...: COMMAND exits with CODE; its output goes to $work/out.txt
  local code="$1" what="$2"
  shift 3
  "$@" >"$work/out.txt" 2>&1
  local got=$?
  if [ "$got" -ne "$code" ]; then
    fail "$what: exit code $got, expected $code; output:"
    tail -n 20 "$work/out.txt"
  else
    echo "ok: $what"
  fi
}

contains() {  # contains TEXT DESCRIPTION: the last expect's output has TEXT
  if ! grep -q -- "$1" "$work/out.txt"; then
    fail "$2: output lacks '$1'"
    tail -n 20 "$work/out.txt"
  fi
}

run() {  # run LOG COMMAND...: a setup step that must succeed; its output goes to LOG, shown when it fails
  local log="$1"
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -n 20 "$log"
    echo "FAIL: $*"
    exit 1
  fi
}

same_file() {  # same_file A B DESCRIPTION: A and B have the same bytes
  cmp -s "$1" "$2" || fail "$3: $1 differs from $2"
}

finish() {  # finish NAME: the summary line; the status is 0 when every check passed
  if [ "$failures" -eq 0 ]; then
    echo "$1: all checks passed"
  else
    echo "$1: $failures failure(s)"
  fi
  [ "$failures" -eq 0 ]
}
