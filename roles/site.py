"""The site deploy: the roles every SFU host gets, in order, each with its own section of the
host's entry (roles/host.py). Run with an inventory:
pyinfra inventories/<stack>.py roles/site.py
"""

from pyinfra.context import host

from roles.anycast.deploy import anycast
from roles.base.deploy import base
from roles.connection import bound_silence
from roles.firewall.deploy import firewall
from roles.host import entry_of
from roles.kernel_tuning.deploy import kernel_tuning
from roles.nic_tuning.deploy import nic_tuning
from roles.prober.deploy import prober
from roles.sfu.deploy import sfu

entry = entry_of(host)
bound_silence(host, entry.ssh_dead_after_s)
base(settings=entry.base)
kernel_tuning(tuning=entry.kernel_tuning)
nic_tuning(tuning=entry.nic_tuning, address=entry.address)
firewall(settings=entry.firewall)
sfu(
    settings=entry.sfu,
    server=entry.name,
    pop=entry.pop,
    media_address=entry.address,
    names=entry.dns_names,
)
anycast(
    spec=entry.bgp,
    settings=entry.anycast,
    sfu=entry.sfu,
    router_id=entry.address,
    server=entry.name,
)
prober(settings=entry.prober)
