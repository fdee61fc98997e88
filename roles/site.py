"""The site deploy: the roles every SFU host gets, in order. Run with an inventory:
pyinfra inventories/<stack>.py roles/site.py
"""

from pyinfra.context import host

from roles.anycast.deploy import anycast
from roles.base.deploy import base
from roles.connection import bound_silence
from roles.firewall.deploy import firewall
from roles.kernel_tuning.deploy import kernel_tuning
from roles.nic_tuning.deploy import nic_tuning
from roles.sfu.deploy import sfu

if host.data.get("ssh_dead_after_s"):
    bound_silence(host, float(host.data.get("ssh_dead_after_s")))
base()
kernel_tuning()
nic_tuning()
firewall()
sfu()
anycast()
