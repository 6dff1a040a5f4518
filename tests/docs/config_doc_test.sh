#!/usr/bin/env bash
# Keeps docs/configuration.md complete: every environment variable the code reads must be named
# there. Label: unit (no servers). Usage: tests/docs/config_doc_test.sh [repo root]
#
# Sources of variable names:
#   C++ (libs/, services/, not their tests/): ConfigReader calls with a literal name —
#     <reader>.String|Int|Bool|Duration|Choice|RequireString("NAME", ...) — and getenv("NAME").
#     Names built by concatenation: `ToUpper(...) + "_SUFFIX"` is expanded over the five stage
#     names (from libs/protocol/src/command.cpp), e.g. DOWNLOAD_CONCURRENCY. Any other call with
#     a non-literal name fails the test until it is taught here (see KNOWN_DYNAMIC).
#   C++ tests (tests/, libs/*/tests/): getenv("NAME") and RequireEnv("NAME").
#   Shell (deploy/local/*, tests/**/*.sh, the demo generator): every CHANSUM_* variable.
# Prints every missing name and exits 1; exits 0 when all are documented.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
doc="$root/docs/configuration.md"
cd "$root"
[ -f "$doc" ] || { echo "FAIL: $doc does not exist"; exit 1; }

# Calls whose first argument is not a literal but is known not to be a variable name:
#   libs/amqp/src/config.cpp RecordProblem() passes a sentence to RequireString to record a
#   problem ("AMQP_URL as amqp://..."), never reading an environment variable of that name.
KNOWN_DYNAMIC=('libs/amqp/src/config.cpp:.*env\.RequireString\(name, detail\)')

src_files() {
  find libs services -type f \( -name '*.cpp' -o -name '*.hpp' \) -not -path '*/tests/*' | sort
}
test_files() {
  { find tests -type f \( -name '*.cpp' -o -name '*.hpp' \); find libs services -path '*/tests/*' -type f -name '*.cpp'; } | sort
}

readers='String|OptionalString|Int|Bool|Duration|Choice|RequireString'
names=()
problems=()

# Stage names, for concatenated names.
mapfile -t stages < <(grep -A2 'kStageNames' libs/protocol/src/command.cpp | grep -oE '"[a-z_]+"' | tr -d '"')
[ "${#stages[@]}" -eq 5 ] || problems+=("could not read the five stage names from libs/protocol/src/command.cpp (got ${#stages[@]})")

while IFS= read -r f; do
  # Literal names.
  while IFS= read -r n; do names+=("$n"); done < <(
    grep -oE "\.($readers)\(\s*\"[A-Z][A-Z0-9_]*\"" "$f" | grep -oE '"[A-Z0-9_]+"' | tr -d '"' || true)
  while IFS= read -r n; do names+=("$n"); done < <(
    grep -oE 'getenv\(\s*"[A-Z][A-Z0-9_]*"' "$f" | grep -oE '"[A-Z0-9_]+"' | tr -d '"' || true)
  # Non-literal names: a ConfigReader call whose first argument does not start with a quote.
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    text=${line#*:}
    if [[ $text =~ \+[[:space:]]*\"(_[A-Z0-9_]+)\" ]]; then
      suffix=${BASH_REMATCH[1]}
      for s in "${stages[@]}"; do names+=("${s^^}${suffix}"); done
      continue
    fi
    known=0
    for k in "${KNOWN_DYNAMIC[@]}"; do
      if [[ "$f:$text" =~ $k ]]; then known=1; fi
    done
    [ "$known" = 1 ] || problems+=("$f: variable name built at run time that this test does not understand: $(echo "$text" | sed 's/^ *//')")
  done < <(grep -nE "\b[a-z_]+\.($readers)\(\s*[^\"[:space:])]" "$f" | grep -vE '^\s*[0-9]+:\s*//' || true)
done < <(src_files)

# Tests: getenv / RequireEnv with a literal name.
while IFS= read -r f; do
  while IFS= read -r n; do names+=("$n"); done < <(
    grep -oE '(getenv|RequireEnv)\(\s*"[A-Z][A-Z0-9_]*"' "$f" | grep -oE '"[A-Z0-9_]+"' | tr -d '"' || true)
done < <(test_files)

# Shell: CHANSUM_* variables of the scripts and env files.
shell_files=(deploy/local/setup deploy/local/stack deploy/local/services deploy/local/demo
             deploy/local/run-tests deploy/local/stack.env deploy/local/services.env
             tests/fixtures/demo_channel/generate)
while IFS= read -r f; do shell_files+=("$f"); done < <(find tests -name '*.sh' -type f | sort)
for f in "${shell_files[@]}"; do
  [ -f "$f" ] || continue
  while IFS= read -r n; do names+=("$n"); done < <(grep -oE 'CHANSUM_[A-Z0-9_]+' "$f" || true)
done

# CHANSUM_BIN_DIR is a CMake compile definition for the e2e tests, not an environment variable.
mapfile -t unique < <(printf '%s\n' "${names[@]}" | grep -vx 'CHANSUM_BIN_DIR' | sort -u)
[ "${#unique[@]}" -ge 40 ] || problems+=("found only ${#unique[@]} variable names: the extraction is broken")

missing=()
for n in "${unique[@]}"; do
  grep -qE "(^|[^A-Za-z0-9_])${n}([^A-Za-z0-9_]|$)" "$doc" || missing+=("$n")
done

for p in "${problems[@]}"; do echo "FAIL: $p"; done
for n in "${missing[@]}"; do echo "FAIL: $n is read by the code but not documented in docs/configuration.md"; done
if [ "${#problems[@]}" -gt 0 ] || [ "${#missing[@]}" -gt 0 ]; then exit 1; fi
echo "OK: all ${#unique[@]} environment variables read by the code are documented in docs/configuration.md"
