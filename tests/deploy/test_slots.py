"""At most N host deploys at once on the control machine: real locks on real files."""

import threading
import time
from pathlib import Path

import pytest

from deploy.slots import deploy_slot, slot_count


def test_a_deploy_waits_for_a_free_slot_and_says_so(tmp_path: Path) -> None:
    order: list[str] = []
    waited = threading.Event()
    holding = threading.Event()

    def first() -> None:
        with deploy_slot(tmp_path, 1):
            holding.set()
            order.append("first starts")
            waited.wait(5)
            time.sleep(0.2)
            order.append("first ends")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(5)
    with deploy_slot(tmp_path, 1, waited.set) as number:
        order.append("second starts")
    thread.join()
    assert number == 0 and waited.is_set()
    assert order == ["first starts", "first ends", "second starts"]


def test_two_slots_let_two_deploys_run_together(tmp_path: Path) -> None:
    with deploy_slot(tmp_path, 2) as one, deploy_slot(tmp_path, 2) as other:
        assert {one, other} == {0, 1}


def test_the_count_comes_from_the_environment_and_is_checked() -> None:
    assert slot_count({"VOICEPOP_DEPLOY_SLOTS": "3"}) == 3
    assert slot_count({}) >= 5
    with pytest.raises(ValueError, match="VOICEPOP_DEPLOY_SLOTS=0: allowed: 1 or more"):
        slot_count({"VOICEPOP_DEPLOY_SLOTS": "0"})
