"""The synthetic call probe: real WebRTC calls through a PoP's SFU (aiortc against Janus's
video room), their figures (setup, RTT, one-way delay, RFC 3550 jitter, loss and its
burstiness) and the ITU-T G.107 E-model's MOS for them; the gate that ends each server's
deploy, and an exporter serving the figures to Prometheus. `python -m quality --help`."""
