#!/usr/bin/env bash
# The layer functions are called through `layer NAME FUNCTION`, which shellcheck cannot see.
# shellcheck disable=SC2317
# The test command behind `make test`: sets up everything it needs, runs the layers, prints a
# summary (layer, result, seconds) and exits 0 only when every layer passed. All layers run even
# after a failure, so one run shows everything that is broken.
#
#   LAYERS     layers to run, in order (default: lint build sanity unit integration tarball molecule)
#   SCENARIOS  molecule scenarios (default: default debian13 dbtls cluster)
#   KEEP=1     keep molecule instances for debugging (molecule converge/verify/login by hand)
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
harness=$root/tests/harness
venv=$root/.venv
LAYERS=${LAYERS:-lint build sanity unit integration tarball molecule}
SCENARIOS=${SCENARIOS:-default debian13 dbtls cluster}
KEEP=${KEEP:-0}

results=()
failed=0

record() { results+=("$1|$2|$3"); [ "$2" = passed ] || failed=1; }

# Run one layer: a name and a command. Output goes straight through; the verdict is remembered.
layer() {
  local name=$1 start rc
  shift
  printf '\n==== %s ====\n' "$name"
  start=$(date +%s)
  "$@"
  rc=$?
  if [ $rc -eq 0 ]; then record "$name" passed $(($(date +%s) - start))
  else record "$name" "FAILED (exit $rc)" $(($(date +%s) - start)); fi
  return 0
}

summary() {
  printf '\n%-26s %-18s %8s\n' layer result seconds
  printf '%-26s %-18s %8s\n' -------------------------- ------------------ --------
  local row name result secs passed=0 not_passed=0
  for row in "${results[@]}"; do
    IFS='|' read -r name result secs <<<"$row"
    printf '%-26s %-18s %8s\n' "$name" "$result" "$secs"
    if [ "$result" = passed ]; then passed=$((passed + 1)); else not_passed=$((not_passed + 1)); fi
  done
  printf '\nlayers: %d passed, %d failed\n' "$passed" "$not_passed"
}

cleanup() {
  [ "$KEEP" = 1 ] || bash "$harness/cleanup.sh"
  bash "$harness/mariadb.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

setup() {
  bash "$harness/venv.sh" || return 1
  bash "$harness/collection.sh" >/dev/null || return 1
}

export PATH=$venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$root/.cache/collections
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 ANSIBLE_NOCOLOR=1

layer setup setup
if [ "$failed" = 1 ]; then summary; exit 1; fi

lint_ruff() { ruff check . && ruff format --check --diff .; }
lint_yamllint() { yamllint --strict .; }
lint_ansible_lint() { ansible-lint --profile production; }
lint_changelog() { antsibull-changelog lint; }

# ansible-test bootstraps pip in each sanity venv from a script it downloads from a host outside
# this machine's reach; it takes a cached copy first, so the offline stand-in goes there.
install_pip_bootstrap() {
  local version
  version=$(python -c 'import pathlib, re, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip=.([0-9.]+).", src.read_text()).group(1))') || return 1
  mkdir -p "$HOME/.ansible/test/cache"
  install -m 0644 "$harness/get_pip_offline.py" "$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
}

# ansible-test skips its shellcheck test when the tool is absent; install it where we can.
ensure_shellcheck() {
  command -v shellcheck >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 0
  apt-get install -y -qq shellcheck >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
}

sanity() {
  local dest
  install_pip_bootstrap || return 1
  ensure_shellcheck || return 1
  # A copy outside this checkout: inside it, git would report the copy as ignored files.
  dest=$(bash "$harness/collection.sh" --copy "${TMPDIR:-/tmp}/sipstack-ansible-test") || return 1
  (cd "$dest" && ansible-test sanity --color no --python 3.11 --requirements)
}

# The example execution environment: ansible-builder writes its build context (building the
# image needs a base image registry these machines do not reach), and reads this collection's
# controller-side needs (meta/execution-environment.yml) from the installed tarball.
ee_check() {
  local installed=$1 context deps
  context=$(mktemp -d) || return 1
  ansible-builder create -f examples/ee/execution-environment.yml -c "$context" \
    && grep -q 'ansible-galaxy collection install' "$context"/*file \
    && grep -qx '  - name: sipstack.kamailio' "$context/_build/requirements.yml" \
    && deps=$(ansible-builder introspect "$installed") \
    && printf '%s\n' "$deps" | grep 'sipstack.kamailio' \
    && grep -q 'PyMySQL>=1.0  # from collection sipstack.kamailio' <<<"$deps" \
    && grep -q 'openssh-clients \[platform:rpm\]  # from collection sipstack.kamailio' <<<"$deps"
  local rc=$?
  rm -rf "$context"
  return "$rc"
}

# The tarball users install: it must build, install, list both modules in ansible-doc, show
# every role's options (ansible-doc -t role), and make an execution environment's context.
build_layer() {
  local out listed
  out=$(mktemp -d) || return 1
  ansible-galaxy collection build --output-path "$out" . >/dev/null \
    && ANSIBLE_COLLECTIONS_PATH=$out/installed ansible-galaxy collection install --no-deps --force -p "$out/installed" "$out"/sipstack-kamailio-*.tar.gz >/dev/null \
    && listed=$(ANSIBLE_COLLECTIONS_PATH=$out/installed ansible-doc -l sipstack.kamailio) \
    && printf '%s\n' "$listed" \
    && grep -q '^sipstack.kamailio.kamailio_domain ' <<<"$listed" \
    && grep -q '^sipstack.kamailio.kamailio_subscriber ' <<<"$listed" \
    && ANSIBLE_COLLECTIONS_PATH=$out/installed python "$harness/role_docs.py" roles \
    && ee_check "$out/installed"
  local rc=$?
  rm -rf "$out"
  return "$rc"
}

# The tarball is the product: installed with ansible-galaxy into an empty path next to its
# dependencies, it converges the demo and every example subscriber registers.
tarball_layer() {
  DEMO_FROM_TARBALL=1 bash "$harness/demo.sh"
}

pytest_layer() {
  # pytest exits 5 when it collected nothing: a layer that ran no test has not passed.
  pytest -p no:cacheprovider "$@"
}

integration() {
  bash "$harness/mariadb.sh" start || return 1
  eval "$(bash "$harness/mariadb.sh" env)" || return 1
  pytest_layer tests/integration
}

molecule_scenario() {
  local scenario=$1 release
  release=$(sed -n 's/^# image-release: *//p' "molecule/$scenario/molecule.yml")
  bash "$harness/images.sh" "${release:-debian12}" || return 1
  if [ "$KEEP" = 1 ]; then molecule test -s "$scenario" --destroy=never
  else molecule test -s "$scenario"; fi
}

for name in $LAYERS; do
  case "$name" in
    lint)
      layer lint:ruff lint_ruff
      layer lint:yamllint lint_yamllint
      layer lint:ansible-lint lint_ansible_lint
      layer lint:changelog lint_changelog ;;
    build) layer build build_layer ;;
    sanity) layer sanity sanity ;;
    unit) layer unit pytest_layer tests/unit ;;
    integration) layer integration integration ;;
    tarball) layer tarball tarball_layer ;;
    molecule)
      for scenario in $SCENARIOS; do layer "molecule:$scenario" molecule_scenario "$scenario"; done ;;
    *) record "$name" "FAILED (unknown layer)" 0 ;;
  esac
done

summary
exit "$failed"
