#!/usr/bin/env bash
# Usage: tools/stack-env.sh STACK COMMAND...   (with tools/env.sh sourced)
# Selects STACK on the configured backend (creating it there the first time) and runs COMMAND
# for it, with the stack's variables (tools/stack-vars.sh).
set -euo pipefail
stack=${1:?usage: tools/stack-env.sh STACK COMMAND...}
shift
if [ ! -f "Pulumi.$stack.yaml" ]; then
  echo "stack-env: no Pulumi.$stack.yaml in $PWD" >&2
  exit 2
fi
. "$(dirname "$0")/stack-vars.sh" "$stack"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  echo "stack-env: stack $stack needs PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE" >&2
  exit 2
fi
# The embedded default backend (Pulumi.yaml) needs its folder; others are left to Pulumi.
[ -n "${PULUMI_BACKEND_URL:-}" ] || mkdir -p .state
pulumi stack select --create --non-interactive "$stack" >&2
exec "$@"
