"""pyinfra roles that install and tune a PoP's hosts; each role's `defaults` is its interface."""
