# Environment for every command of this project: `. tools/env.sh` (bash) from the project root.
# The Makefile sources it for each recipe; source it yourself to run `pulumi` by hand.
# It keeps the Pulumi engine offline and quiet: no update check, no plugin downloads, and the
# engine's home (plugins, workspace settings) inside the project. The backend is not set
# here: Pulumi.yaml names the embedded default and PULUMI_BACKEND_URL overrides it.
# The checkout this file belongs to, never one inherited from another checkout's environment.
VOICEPOP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export VOICEPOP_ROOT
export PATH="$VOICEPOP_ROOT/.tools/bin:$VOICEPOP_ROOT/.venv/bin:$PATH"
export PULUMI_HOME="$VOICEPOP_ROOT/.tools/pulumi-home"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
# The sandbox stack's secrets are sandbox-only; production stacks need the team's passphrase
# in PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE.
export VOICEPOP_SANDBOX_PASSPHRASE=${VOICEPOP_SANDBOX_PASSPHRASE:-voicepop-sandbox-only}
# The token the sandbox's provider stand-in accepts; a real PoP's token comes from the team's
# secret store as FLEXMETAL_TOKEN or the secret config flexmetal:token.
export VOICEPOP_SANDBOX_API_TOKEN=${VOICEPOP_SANDBOX_API_TOKEN:-sandbox-api-token}
