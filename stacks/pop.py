"""The VoicePop component: one PoP, built from its spec.

It owns the PoP's provider connection and admin SSH keys, and one PopServer per server; each
PopServer owns its dedicated server at the provider (and, with later issues, its BGP sessions
and DNS records).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi_command import local

from roles.host import HostEntry
from roles.prober.config import PeerPop
from roles.sfu.access import TOKEN_SECRET_KEY
from roles.sfu.tls import ROUTE53_SECRET_KEY
from stacks.dns.component import PopDns
from stacks.host_data import addresses_needed, host_entry, peer_pop
from stacks.resources import host_deploy as deploy_command
from stacks.resources.flexmetal.resources import FlexMetal, Server, SshKey
from stacks.resources.flexmetal.schema import TIMINGS, identity_tag
from stacks.rollout.trigger import (
    SFU_ROLE_FOLDER,
    code_digest,
    deploy_trigger,
    file_digests,
    sfu_digest,
)
from stacks.rollout.waves import waves_of
from stacks.spec.errors import SpecError, SpecInvalid
from stacks.spec.models import PopSpec

POP_TYPE = "voicepop:index:Pop"
SERVER_TYPE = "voicepop:index:Server"


@dataclass(frozen=True)
class StackIdentity:
    project: str
    stack: str
    project_dir: Path


@dataclass(frozen=True)
class Rollout:
    """A server's place in the PoP's rolling deploy: the host deploys of the wave before its
    own, which its deploy waits for (Pulumi dependencies)."""

    after: tuple[pulumi.Resource, ...] = ()
    redeploy: str = ""  # the drift repair's token for this host in this run (else none)


@dataclass(frozen=True)
class DeployedCode:
    """The digests of what a deploy ships, read once per program run."""

    everything: str
    sfu: str

    @classmethod
    def of(cls, project_dir: Path) -> "DeployedCode":
        files = file_digests(project_dir)  # read and hashed once for both
        return cls(code_digest(files), code_digest(files, SFU_ROLE_FOLDER))


def prefixes_announced_by(spec: PopSpec, server: str) -> list[str]:
    return [p.prefix for p in spec.prefixes_of(server)]


def neighbors_of(spec: PopSpec, server: str) -> list[str]:
    return [n.name for n in spec.neighbors_of(server)]


def server_tags(spec: PopSpec, identity: StackIdentity) -> list[str]:
    own = [f"vp-pop:{spec.code}", f"vp-stack:{identity.stack}", "vp-role:sfu"]
    return list(dict.fromkeys([*own, *spec.provider.server_tags]))


def resolve_ssh_public_keys(spec: PopSpec, project_dir: Path) -> list[str]:
    """The admin public keys, reading `file:` entries; a missing file is a spec error."""
    keys, errors = [], []
    for index, entry in enumerate(spec.access.ssh_public_keys):
        if not entry.startswith("file:"):
            keys.append(entry)
            continue
        path = project_dir / entry.removeprefix("file:")
        if path.is_file():
            keys.append(path.read_text().strip())
        else:
            errors.append(
                SpecError(
                    f"voicepop:pop.access.ssh_public_keys[{index}]",
                    entry,
                    f"no such file {path}",
                    "an existing public key file (the sandbox makes its own: make sandbox-up)",
                )
            )
    if errors:
        raise SpecInvalid(f"Pulumi.{spec.code}.yaml", errors)
    return keys


class PopServer(pulumi.ComponentResource):
    """One SFU server of a PoP and what is derived for it from the spec: made in two steps, the
    server first (`PopServer`), then its entry and deploy (`deployed`), once every server of
    the PoP exists, so an entry can name the others' addresses (a prober calls them all)."""

    def __init__(
        self,
        name: str,
        spec: PopSpec,
        identity: StackIdentity,
        ssh_key_ids: list[pulumi.Output[str]],
        provider: FlexMetal,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(SERVER_TYPE, name, None, opts)
        self.name = name
        self.machine = Server(
            name,
            name=name,
            location=spec.provider.location,
            instance_type=spec.provider.instance_type,
            os_slug=spec.provider.os,
            ssh_keys=ssh_key_ids,
            identity_tag=identity_tag(identity.project, identity.stack, name),
            tags=server_tags(spec, identity),
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.fqdn = pulumi.Output.from_input(f"{name}.{spec.dns.zone}")
        self.address = self.machine.primary_ip

    def deployed(
        self,
        spec: PopSpec,
        identity: StackIdentity,
        others: Mapping[str, pulumi.Output[str]],
        rollout: Rollout,
        code: DeployedCode,
        peers: pulumi.Output[list[PeerPop]] | None = None,
    ) -> None:
        """Its entry (made once: the deploy's input and the stack's outputs both use it) and
        its deploy; `others`: the addresses of the servers its entry names (stacks/host_data.py
        `addresses_needed`); `peers`: the other PoPs a prober on it calls."""
        name = self.name
        self.entry = pulumi.Output.all(self.address, dict(others), peers or []).apply(
            lambda v: (
                host_entry(spec, name, v[0], identity.project_dir, v[1], v[2]) if v[0] else None
            )
        )
        self.announced_prefixes = pulumi.Output.from_input(prefixes_announced_by(spec, name))
        self.bgp_neighbors = pulumi.Output.from_input(neighbors_of(spec, name))
        self.deploy = (
            host_deploy(name, spec, self.entry, self.machine, rollout, code, self)
            if spec.deploy.enabled
            else None
        )
        self.register_outputs(
            {
                "fqdn": self.fqdn,
                "address": self.address,
                "announced_prefixes": self.announced_prefixes,
                "bgp_neighbors": self.bgp_neighbors,
            }
        )


def provider_timings(spec: PopSpec) -> dict[str, float]:
    """The flexmetal provider's timings, as the spec's provider section names them."""
    return {name: getattr(spec.provider, name) for name in TIMINGS}


def deploy_secrets(spec: PopSpec, server: str) -> dict[str, pulumi.Output[str]]:
    """The stack's secret config values the server's roles need: its BGP sessions' MD5 keys,
    the SFU's token secret and the ACME client's Route 53 secret key."""
    config = pulumi.Config()
    keys = sorted({n.md5_secret for n in spec.neighbors_of(server) if n.md5_secret})
    # a simulated host: none
    sfu = [TOKEN_SECRET_KEY, ROUTE53_SECRET_KEY] if spec.deploy.configures_hosts else []
    return {key: config.require_secret(key) for key in [*keys, *sfu]}


def delivered(entry: HostEntry | None) -> HostEntry:
    """A server's entry once it has an address: a deploy only runs for a delivered server."""
    if entry is None:
        raise ValueError("a host deploy needs its server's address")
    return entry


def host_deploy(
    name: str,
    spec: PopSpec,
    entry: pulumi.Output[HostEntry | None],
    machine: Server,
    rollout: Rollout,
    code: DeployedCode,
    parent: pulumi.Resource,
) -> local.Command:
    """The server's site deploy and verification (stacks/resources/host_deploy.py), run again
    when its environment changes: the trigger (the roles or the verification suites, the
    host's entry, or the server's installation: a reinstall wipes the host), the SFU digest,
    the secrets, a repair's token. It starts once the previous wave of the rollout is done."""
    # the entry travels as JSON text: a dict in an Output is lifted into an Output per nested
    # value whenever it is combined with another (some 4,000 Outputs for 20 servers)
    trigger = pulumi.Output.all(entry, machine.uuid, machine.installation).apply(
        lambda v: deploy_trigger(
            {k: x for k, x in delivered(v[0]).as_json().items() if k != "ssh_key"},
            code.everything,
            installation=f"{v[1]}/{v[2]}",
        )
    )
    given = deploy_secrets(spec, name)
    secrets = {deploy_command.SECRET_PREFIX + key: value for key, value in given.items()}
    redeploy = {deploy_command.REDEPLOY: rollout.redeploy} if rollout.redeploy else {}
    # a run without a repair asks nothing: the token of the last repair stays as it is
    unless_asked = [] if rollout.redeploy else [deploy_command.IGNORED_UNLESS_GIVEN]
    what_it_does: dict[str, pulumi.Input[str]] = {
        deploy_command.TRIGGER: trigger,
        # the token secret is in the SFU's configuration: a rotation restarts it, drained.
        # The digest holds a hash of it only (as the host's record does): kept in clear
        deploy_command.SFU_DIGEST: pulumi.Output.unsecret(
            pulumi.Output.all(entry, given.get(TOKEN_SECRET_KEY, "")).apply(
                lambda v: sfu_digest(delivered(v[0]).as_json(), code.sfu, token_secret=v[1])
            )
        ),
        **redeploy,
        **secrets,
    }
    attempt = local.Command(
        f"{name}{deploy_command.ATTEMPT_SUFFIX}",
        create=deploy_command.MARK,
        update=deploy_command.MARK,
        environment=what_it_does,
        logging=local.Logging.NONE,
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=unless_asked),
    )
    environment: dict[str, pulumi.Input[str]] = {
        **what_it_does,
        deploy_command.ATTEMPT: attempt.stdout,
        deploy_command.HOST: entry.apply(
            lambda e: json.dumps(delivered(e).as_json(), sort_keys=True)
        ),
        deploy_command.SETTLE_S: str(spec.deploy.settle_s),
        deploy_command.TIMEOUT_S: str(spec.deploy.timeout_s),
        **({deploy_command.SIMULATE: "1"} if spec.deploy.simulate else {}),
    }
    return local.Command(
        f"{name}{deploy_command.RESOURCE_SUFFIX}",
        create=deploy_command.CREATE,
        update=deploy_command.UPDATE,
        delete=deploy_command.DELETE,
        environment=environment,
        logging=local.Logging.STDERR,
        # a new address is another server: a new deploy, and the old server drained
        triggers=[machine.primary_ip],
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(rollout.after),
            ignore_changes=unless_asked,
        ),
    )


class VoicePop(pulumi.ComponentResource):
    def __init__(
        self,
        spec: PopSpec,
        identity: StackIdentity,
        opts: pulumi.ResourceOptions | None = None,
        redeploy: Mapping[str, str] | None = None,
    ) -> None:
        """`redeploy`: a token per server the drift repair deploys again (deploy/
        redeploy.py)."""
        super().__init__(POP_TYPE, spec.code, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        token = pulumi.Config("flexmetal").get_secret("token")
        provider = FlexMetal(
            f"{spec.code}-flexmetal",
            spec.provider.api_endpoint,
            token,
            provider_timings(spec),
            child,
        )
        with_provider = pulumi.ResourceOptions(parent=self, provider=provider)
        keys = [
            SshKey(f"{spec.code}-admin-{index}", public_key, with_provider)
            for index, public_key in enumerate(resolve_ssh_public_keys(spec, identity.project_dir))
        ]
        key_ids = [key.uuid for key in keys]
        waves = waves_of(spec)
        self.servers: dict[str, PopServer] = {
            name: PopServer(name, spec, identity, key_ids, provider, child)
            for wave in waves
            for name in wave.servers
        }
        code = DeployedCode.of(identity.project_dir)
        peers = peer_pops(spec, identity, self)
        previous: tuple[pulumi.Resource, ...] = ()
        for wave in waves:
            for name in wave.servers:
                rollout = Rollout(previous, (redeploy or {}).get(name, ""))
                others = {
                    other: self.servers[other].address
                    for other in addresses_needed(spec, name)
                    if other in self.servers
                }
                probes = name in spec.probing.servers
                self.servers[name].deployed(
                    spec, identity, others, rollout, code, peers if probes else None
                )
            previous = tuple(
                deploy for name in wave.servers if (deploy := self.servers[name].deploy)
            )
        self.dns = PopDns(
            spec, {name: server.address for name, server in self.servers.items()}, child
        )
        self.summary = pulumi.Output.all(
            {name: server.address for name, server in self.servers.items()},
            {name: server.entry for name, server in self.servers.items()},
        ).apply(lambda resolved: pop_summary(spec, resolved[0], resolved[1]))
        self.deploys = pulumi.Output.all(
            {
                name: deploy_outcome(server.deploy)
                for name, server in self.servers.items()
                if server.deploy
            }
        ).apply(lambda resolved: resolved[0])
        # the stack exports both (stacks/__main__.py); the component does not keep a copy
        # (the summary is most of a stack's outputs, and every engine event copies it)
        self.register_outputs({})


def peer_pops(
    spec: PopSpec, identity: StackIdentity, parent: pulumi.Resource
) -> pulumi.Output[list[PeerPop]]:
    """The PoPs of `probing.peers` as their stacks' `pop` outputs describe them (a
    StackReference each, in this stack's organization and project); a peer without servers
    delivered yet is left out until it has some."""
    if not spec.probing.servers or not spec.probing.peers:
        return pulumi.Output.from_input([])
    organization = pulumi.get_organization()
    outputs = [
        pulumi.StackReference(
            f"peer-{peer}",
            stack_name=f"{organization}/{identity.project}/{peer}",
            opts=pulumi.ResourceOptions(parent=parent),
        ).get_output("pop")
        for peer in spec.probing.peers
    ]
    return pulumi.Output.all(*outputs).apply(
        lambda pops: [found for pop in pops if (found := peer_pop(pop))]
    )


OUTCOME = (
    "changed_operations", "checks_passed", "call_mos", "drained", "left_drained", "deployed_at",
)  # fmt: skip


def deploy_outcome(deploy: local.Command) -> pulumi.Output[dict[str, Any]]:
    """The last run's figures, from the deploy command's JSON."""
    return deploy.stdout.apply(outcome_of)


def outcome_of(stdout: str | None) -> dict[str, Any]:
    figures = json.loads(stdout) if stdout else {}
    return {key: figures.get(key) for key in OUTCOME}


def pop_summary(
    spec: PopSpec, addresses: dict[str, Any], entries: dict[str, HostEntry | None]
) -> dict[str, Any]:
    """What the stack exports about its PoP. Each delivered server's `host` is its entry as the
    deploy got it (name, address, SSH user and key file, role data; never a secret): the
    inventories, the summary after `make up` and the tests read these, never the stack file."""
    return {
        "code": spec.code,
        "name": spec.name,
        "environment": spec.environment,
        "provider": {
            "name": spec.provider.name,
            "location": spec.provider.location,
            "instance_type": spec.provider.instance_type,
        },
        "servers": {
            name: {
                "address": addresses.get(name),
                "fqdn": f"{name}.{spec.dns.zone}",
                "announced_prefixes": prefixes_announced_by(spec, name),
                "bgp_neighbors": neighbors_of(spec, name),
                "host": entry.as_json() if (entry := entries.get(name)) else None,
            }
            for name in spec.server_names
        },
        "dns": {"zone": spec.dns.zone, "api_endpoint": spec.dns.api_endpoint},
        "local_asn": spec.bgp.local_asn,
        "pop_fqdn": f"{spec.pop_record}.{spec.dns.zone}",
        "service_fqdn": f"{spec.dns.service_record}.{spec.dns.zone}",
    }
