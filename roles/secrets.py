"""Secrets the roles need (a BGP session's MD5 key): from the environment of the deploy, never
from host data, so they are not in inventories or logs. The stack's deploy step exports them
from its secret config; by hand: VOICEPOP_SECRET_<key>=... pyinfra ..."""

import os

PREFIX = "VOICEPOP_SECRET_"


class MissingSecret(Exception):
    pass


def secret(key: str) -> str:
    value = os.environ.get(PREFIX + key)
    if not value:
        raise MissingSecret(
            f"secret voicepop:{key} not given to the deploy: export {PREFIX}{key} "
            f"(e.g. {PREFIX}{key}=$(pulumi config get {key}))"
        )
    return value
