# Sourced, never run: `. tools/stack-vars.sh STACK` (with tools/env.sh sourced) sets what
# STACK's commands run with, the one place for it: tools/stack-env.sh sources it for the CLI,
# ops/engine.py reads it for the Automation API. The sandbox stack gets its sandbox-only
# passphrase, token and Route 53 credentials, and its generated SSH key (the second sandbox PoP,
# sandbox2, too); any other stack runs
# with the team's PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE from the caller.
case "${1:?usage: . tools/stack-vars.sh STACK}" in
sandbox | sandbox[0-9]*)
  # its secrets are encrypted with the sandbox-only passphrase: a team's cannot read them, so
  # one set for the other stacks (previewed beside it) never applies here
  unset PULUMI_CONFIG_PASSPHRASE_FILE
  export PULUMI_CONFIG_PASSPHRASE=$VOICEPOP_SANDBOX_PASSPHRASE
  export FLEXMETAL_TOKEN=$VOICEPOP_SANDBOX_API_TOKEN
  # the sandbox's Route 53 (moto) takes any credentials; never real ones
  export AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox AWS_REGION=us-east-1
  python -m sandbox.ssh  # the stack names the sandbox's generated key
  ;;
esac
