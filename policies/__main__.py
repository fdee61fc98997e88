"""Entry point the engine runs (`pulumi preview --policy-pack policies`)."""

from policies.pack import serve
from policies.stack_config import receive_stack_config

receive_stack_config()
serve()
