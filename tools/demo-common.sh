# Shared by the demos (sourced, not run): installs what is missing, builds
# build/, and defines the helpers that print and check each step.
#   nacre      the built CLI
#   step TEXT  a section title
#   run CMD    prints "$ CMD", runs it
#   refused CMD  CMD must fail; prints its one-line reason (the demo fails
#              if it succeeds)
tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build >/dev/null
nacre="$PWD/build/tools/nacre/nacre"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
refused() {
  printf '$ %s\n' "$*"
  if "$@" 2>refusal.txt; then
    echo "demo: FAILED: this should have been refused: $*" >&2
    exit 1
  fi
  printf '  refused, as it must be: %s\n' "$(tail -1 refusal.txt)"
}
