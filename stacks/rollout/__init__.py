"""A PoP's rollout as the program declares it: waves (canary, batches), the trigger of each
host's deploy (a digest of what shapes the host), and redeploy tokens for the drift repair."""
