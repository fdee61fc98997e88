"""The base of every host: time sync, a hardened sshd, journald limits, security updates."""
