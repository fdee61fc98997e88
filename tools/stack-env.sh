#!/usr/bin/env bash
# Usage: tools/stack-env.sh STACK COMMAND...   (with tools/env.sh sourced)
# Selects STACK on the configured backend (creating it there the first time) and runs COMMAND
# for it. The sandbox stack gets its sandbox-only passphrase; any other stack needs the team's
# PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE.
set -euo pipefail
stack=${1:?usage: tools/stack-env.sh STACK COMMAND...}
shift
if [ ! -f "Pulumi.$stack.yaml" ]; then
  echo "stack-env: no Pulumi.$stack.yaml in $PWD" >&2
  exit 2
fi
if [ "$stack" = sandbox ] && [ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE=$VOICEPOP_SANDBOX_PASSPHRASE
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  echo "stack-env: stack $stack needs PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE" >&2
  exit 2
fi
# The file backend needs its folder; other backends (s3://...) are left to Pulumi.
mkdir -p .state
pulumi stack select --create --non-interactive "$stack" >/dev/null
exec "$@"
