"""The host deploy of one server, run on the control machine for `pulumi up`: drain the server
when the SFU restarts, the roles' site deploy over SSH, the verification suites as a gate, a
synthetic call, back in service; and the drain of a server that is leaving."""
