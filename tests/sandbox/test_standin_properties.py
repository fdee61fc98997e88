"""Property-based contract test: requests generated from the API's document (as the stand-in
states it, sandbox/flexmetal/contract.py) by schemathesis, valid and invalid alike, each
answered by the stand-in as the document says: never a server error, only documented
statuses and content types, every body of the documented shape, invalid data refused."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode, checks

from sandbox.flexmetal.contract import real_api_document
from tests.standin_fixture import TOKEN, StandInUnderTest, start_standin

pytestmark = pytest.mark.servers

IMPLEMENTED = [  # the operations the project speaks; the document lists a few more
    "getFlexMetalServers",
    "createFlexMetalServer",
    "getFlexMetalServer",
    "deleteFlexMetalServer",
    "reinstallFlexMetalServer",
    "listFlexMetalServerCommands",
    "createFlexMetalServerTag",
    "deleteFlexMetalServerTag",
    "getFlexMetalLocations",
    "getFlexMetalLocationInstanceTypes",
    "getFlexMetalTags",
    "getFlexMetalQuotaUsages",
    "getOperatingsystems",
    "getSshKeys",
    "createSshKey",
    "getSshKey",
    "deleteSshKey",
]
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]

schema = schemathesis.openapi.from_dict(real_api_document()).include(operation_id=IMPLEMENTED)
schema.config.generation.update(
    modes=list(GenerationMode),  # valid and invalid requests
)


@pytest.fixture(scope="module")
def shared_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandInUnderTest]:
    """One stand-in for every generated request of the module (hypothesis runs many
    examples per test, which a per-test fixture would not see reset anyway)."""
    under_test = start_standin(Path(tmp_path_factory.mktemp("properties")) / "standin.db")
    yield under_test
    under_test.running.stop()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_generated_request_is_answered_as_the_document_says(
    case: schemathesis.Case[Any], shared_standin: StandInUnderTest
) -> None:
    case.call_and_validate(
        base_url=shared_standin.base, headers={"PRIVATE-TOKEN": TOKEN}, checks=CHECKS
    )
