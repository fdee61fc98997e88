"""The provider scorecard: per PoP and provider over a period, what the team compares
providers by (availability of the service address, outages, MOS, loss, RTT, reconnect times),
from the probing mesh's metrics in Prometheus and the drills' results.
`python -m ops.scorecard --help`; `make scorecard` on the sandbox."""
