"""Every knob of the sfu role with its default: the role's documented interface, and the PoP
spec's `sfu` section as it is (stacks/spec/models.py composes this model), so a knob has one
name from the stack file to the host."""

from typing import Literal

from pydantic import Field

from roles.settings import Port, RoleSettings


class PortRange(RoleSettings):
    first: Port
    last: Port


LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


class Acme(RoleSettings):
    """Where each server gets its certificate: an ACME CA, DNS-01 challenges written through
    Route 53 (the zone the stack manages). The secret key of `route53_access_key_id` is the
    stack's secret voicepop:acmeRoute53SecretKey: give that key the right to change the zone's
    `_acme-challenge` records only."""

    directory_url: str = Field(
        LETS_ENCRYPT, pattern=r"^https://", description="the CA's ACME directory"
    )
    email: str | None = Field(
        None, pattern=r"^[^@\s]+@[^@\s]+$", description="the CA's contact for the account"
    )
    route53_access_key_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9-]{4,128}$",
        description="the AWS access key the hosts' ACME client writes challenges with",
    )
    route53_endpoint: str | None = Field(
        None, pattern=r"^https?://", description="None: AWS; the sandbox: its Route 53 stand-in"
    )
    ca_bundle: str | None = Field(
        None,
        description="PEM file (on the deploy machine, relative to the project) of the roots "
        "the hosts trust for the CA and the callers for the servers' certificates; None: the "
        "system's (a public CA). The sandbox's: its ACME CA's",
    )


class SfuTls(RoleSettings):
    """Signalling over HTTPS: a TLS front (nginx) on `port` serves the SFU's API and the
    assignment, both on loopback behind it; the certificate names the server, its PoP and the
    service (the stack's DNS names), from ACME, renewed by a timer (certbot's schedule: a
    third of its lifetime left, or the CA's renewal window), the front reloaded (calls and
    their media go on)."""

    port: Port = Field(443, description="the SFU's API over HTTPS, the only port callers use")
    acme: Acme = Field(default_factory=Acme)
    min_days_left: int = Field(
        14, ge=1, le=60, description="the verification fails a certificate with fewer"
    )


class SfuHealth(RoleSettings):
    """The SFU's health endpoint on each server: what gates its announcements (the anycast
    role's check) and what Route 53 checks (its DNS health checks): through the TLS front."""

    protocol: Literal["https", "tcp"] = "https"
    port: Port = 443
    path: str = Field("/janus/info", pattern=r"^/", description="HTTP(S) only")

    @property
    def local_url(self) -> str:
        """The endpoint as the host itself reaches it ("tcp://..." for a TCP check)."""
        path = "" if self.protocol == "tcp" else self.path
        return f"{self.protocol}://127.0.0.1:{self.port}{path}"

    def front_path(self, tls_port: int) -> str:
        """Its path where the TLS front on `tls_port` serves it, answering 503 while the server
        is out of service (roles/sfu/tls.py); "" where it does not (a TCP check, another port,
        a path Janus does not serve)."""
        served = self.protocol == "https" and self.port == tls_port
        return self.path if served and self.path.startswith("/janus") else ""


class CallGate(RoleSettings):
    """The synthetic call that ends each server's deploy (quality/): a publisher's Opus audio
    through the server's SFU to a subscriber, judged by the ITU-T G.107 E-model. It proves
    what no configuration check can: the firewall, the media ports and the SFU carry media."""

    enabled: bool = True
    duration_s: float = Field(3.0, ge=1, le=60, description="seconds of media in the call")
    min_mos: float = Field(
        4.0,
        ge=1.0,
        le=4.5,
        description="the lowest estimated MOS a deploy accepts (4.0: R 80, users satisfied; "
        "a clean path scores 4.4 with Opus)",
    )
    codec_profile: Literal["opus", "g711-plc", "g729a"] = Field(
        "opus", description="the E-model's codec impairments (quality/emodel.py names sources)"
    )
    setup_timeout_s: float = Field(10.0, ge=1, le=120, description="for the call to carry media")


class SfuSettings(RoleSettings):
    implementation: Literal["janus"] = "janus"
    media_ports: PortRange = Field(
        default_factory=lambda: PortRange(first=10_000, last=20_000),
        description="UDP media range; must not overlap the kernel's ephemeral range",
    )
    signalling_port: Port = Field(
        8088, description="the SFU's own API (plain HTTP), on loopback behind the TLS front"
    )
    assign_port: Port = Field(
        8089,
        description="the assignment (roles/sfu/assign.py), on loopback behind the TLS front: "
        "a caller asks the service (anycast) address which server to use, the answering "
        "server names itself",
    )
    tls: SfuTls = Field(default_factory=SfuTls)
    allowed_origin: str | None = Field(
        None,
        pattern=r"^https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$",
        description="the one web origin (https://host[:port]) whose pages may call the "
        "signalling API from a browser (CORS); none: no page of any origin may. Tokens, not "
        "CORS, keep out clients that are not browsers",
    )
    health: SfuHealth = Field(default_factory=SfuHealth)
    admin_port: Port = Field(7088, description="admin API, on 127.0.0.1 only")
    log_level: int = Field(4, ge=0, le=7, description="Janus debug_level (4: info)")
    nofile_limit: int = Field(1_048_576, ge=65_536, description="LimitNOFILE of the SFU unit")
    restart_delay_s: int = Field(1, ge=0, le=300, description="RestartSec after a crash")
    sandboxing: bool = Field(
        True,
        description="systemd sandboxing of the SFU (roles/unit_sandbox.py): it parses "
        "untrusted UDP, DTLS, SRTP and HTTP",
    )
    call_gate: CallGate = Field(default_factory=CallGate)
    max_exposure: float = Field(
        2.5,
        ge=0,
        le=10,
        description="the highest `systemd-analyze security` exposure the verification accepts "
        "for the SFU unit (9.6 unsandboxed; 2.0 measured with the sandboxing)",
    )
