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
if [ "$stack" = sandbox ]; then
  # its secrets are encrypted with the sandbox-only passphrase: a team's cannot read them, so
  # one set for the other stacks (previewed beside it) never applies here
  unset PULUMI_CONFIG_PASSPHRASE_FILE
  export PULUMI_CONFIG_PASSPHRASE=$VOICEPOP_SANDBOX_PASSPHRASE
  export FLEXMETAL_TOKEN=$VOICEPOP_SANDBOX_API_TOKEN
  # the sandbox's Route 53 (moto) takes any credentials; never real ones
  export AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox AWS_REGION=us-east-1
  python -m sandbox.ssh  # the stack names the sandbox's generated key
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  echo "stack-env: stack $stack needs PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE" >&2
  exit 2
fi
# The embedded default backend (Pulumi.yaml) needs its folder; others are left to Pulumi.
[ -n "${PULUMI_BACKEND_URL:-}" ] || mkdir -p .state
pulumi stack select --create --non-interactive "$stack" >&2
exec "$@"
