"""NIC tuning for SFU hosts: rings, queues, UDP flow hashing, RPS/XPS, IRQ placement."""
