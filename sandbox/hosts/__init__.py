"""Test hosts the provider stand-in delivers: containers (systemd-nspawn) on a sandbox bridge."""
