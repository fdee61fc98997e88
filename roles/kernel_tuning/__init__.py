"""Kernel tuning for SFU hosts: socket buffers, backlogs, file limits, the ephemeral port range."""
