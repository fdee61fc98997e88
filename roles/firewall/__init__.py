"""The host firewall (nftables): default drop inbound, only what the PoP spec opens."""
