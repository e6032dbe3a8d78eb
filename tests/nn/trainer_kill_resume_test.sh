#!/usr/bin/env bash
# Exact resume of `nnuc train` on the CPU: a run killed at several points (NNUC_TEST_KILL_AT, see
# nn/trainer.h) and continued with --continue ends with the same final checkpoint, bit for bit, as an
# uninterrupted run (tensors, trainer state, per-epoch losses and pseudo Dice).
#   trainer_kill_resume_test.sh PATH_TO_NNUC
# Kill points: after an epoch before its checkpoints; in the middle of writing checkpoint_latest,
# checkpoint_best and checkpoint_final (a truncated temp file is left, as a crash leaves it); between
# checkpoint_best and checkpoint_latest; in the middle of an epoch; and twice in one run.
set -uo pipefail
nnuc="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The CPU kernels are deterministic for a fixed thread count: every run here uses the same one.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
failures=0

"$nnuc" synth --preset tiny -o "$work/raw/Dataset900_Tiny" >/dev/null || exit 1
"$nnuc" plan -i "$work/raw/Dataset900_Tiny" -o "$work/pp" -c 2d -q >/dev/null || exit 1
pp="$work/pp/Dataset900_Tiny"
schedule=(-i "$pp" -c 2d -f 0 --device cpu --epochs 3 --iters-per-epoch 3 --val-iters 1 --seed 7 --deterministic -q)
fold=Dataset900_Tiny/nnUNetTrainer__nnUNetPlans__2d/fold_0

"$nnuc" train "${schedule[@]}" -o "$work/reference" || { echo "FAIL: the uninterrupted run failed"; exit 1; }
reference="$work/reference/$fold/checkpoint_final.nnuc"

# run_killed NAME POINT [POINT ...]: kills at each point in turn (each must end the process with the
# hook's exit code 86), then continues to the end and compares the final checkpoint.
run_killed() {
  local name="$1" results="$work/$1" code
  shift
  for point in "$@"; do
    NNUC_TEST_KILL_AT="$point" "$nnuc" train "${schedule[@]}" -o "$results" --continue >"$work/$name.log" 2>&1
    code=$?
    if [ "$code" -ne 86 ]; then
      echo "FAIL: $name: killing at $point: exit code $code, expected 86"
      tail -n 5 "$work/$name.log"
      failures=$((failures + 1))
      return
    fi
  done
  if ! "$nnuc" train "${schedule[@]}" -o "$results" --continue >"$work/$name.log" 2>&1; then
    echo "FAIL: $name: --continue failed"
    tail -n 5 "$work/$name.log"
    failures=$((failures + 1))
    return
  fi
  if [ -e "$results/$fold/checkpoint_latest.nnuc" ]; then
    echo "FAIL: $name: checkpoint_latest.nnuc left after the final checkpoint"
    failures=$((failures + 1))
  fi
  if python3 "$here/compare_checkpoints.py" "$reference" "$results/$fold/checkpoint_final.nnuc" >"$work/$name.cmp"; then
    echo "ok: $name ($*): final checkpoint equal to the uninterrupted run's"
  else
    echo "FAIL: $name ($*): final checkpoint differs"
    cat "$work/$name.cmp"
    failures=$((failures + 1))
  fi
}

run_killed after_epoch epoch_end:1
run_killed writing_latest checkpoint_write:latest:1
run_killed writing_best checkpoint_write:best:0
run_killed between_best_and_latest after_checkpoint:best:0
run_killed writing_final checkpoint_write:final:2
run_killed mid_epoch iteration:4
run_killed twice epoch_end:0 iteration:7

[ "$failures" -eq 0 ] && echo "kill and resume: all checks passed" || echo "kill and resume: $failures failure(s)"
[ "$failures" -eq 0 ]
