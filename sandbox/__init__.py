"""The sandbox: stand-ins for the provider and Route 53, and real test hosts, on this machine."""
