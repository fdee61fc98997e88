"""A host's side of the SFU's configuration, for the renderers' tests."""

from roles.sfu.adapter import HostSide

TOKEN_SECRET = "t0ken-secret-" + "x" * 40
HOST_SIDE = HostSide("ams1-sfu01 (ams1)", "192.0.2.10", "admin-secret", TOKEN_SECRET)
