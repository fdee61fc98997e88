"""python -m deploy up|leave: what each server's host deploy runs (deploy/command.py)."""

import os
import sys

from deploy.command import main

sys.exit(main(sys.argv[1:], os.environ))
