"""CI's short fault campaign: one round of each fault kind against one real cluster.

Every round starts by undoing whatever an earlier round left (heal, SIGCONT, unfill,
restart, unseal) and waiting for convergence, so no round depends on another. The
cluster, namespaces and mounts are removed at the end of the module even when an
assertion fails. The long version is benchmarks/faults.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults.campaign import KINDS, Campaign, Settings, markdown, round_line, summarize

pytestmark = [pytest.mark.cluster, pytest.mark.faults]

WINDOW_BOUND_S = 15.0   # generous: writes accepted again within this after the fault
CI = Settings(pre_s=1.0, hold_s=2.5, post_s=1.5, writers=3, cas_clients=2, ryw_readers=1,
              finish_s=12.0, tmpfs_mb=256)
ROUNDS: list[dict[str, object]] = []


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    with Campaign(tmp_path_factory.mktemp("faults"), CI) as c:
        print(f"\nfault campaign environment: {json.dumps(c.environment)}")
        yield c
    if ROUNDS:
        print("\n" + markdown(summarize(ROUNDS),  # type: ignore[arg-type]
                              "fault campaign (CI, one round per kind)"))


def check_round(kind: str, result: dict[str, Any]) -> list[str]:
    """What is wrong with one round (empty: nothing)."""
    wrong = list(result["problems"])
    for key, expected in (("lost", 0), ("divergent", False), ("cas_duplicated", 0),
                          ("cas_lost", 0), ("stale_reads", 0)):
        if result.get(key) != expected:
            wrong.append(f"{key} = {result.get(key)!r}")
    if not result.get("acked"):
        wrong.append("no write was acknowledged")
    window = result.get("window_s")
    if window is None or window >= WINDOW_BOUND_S:
        wrong.append(f"writes not accepted again within {WINDOW_BOUND_S}s: {window}")
    if kind.startswith("clock") and result["tokens"]["failure_count"]:
        wrong.append(f"tokens refused: {result['tokens']['failures']}")
    return [f"{kind}: {w}" for w in wrong]


def test_one_round_of_each_fault_kind(campaign: Campaign) -> None:
    """All kinds in one test, so xdist never splits the campaign over two clusters;
    every kind runs even when an earlier one failed, and all failures are reported."""
    wrong: list[str] = []
    for number, kind in enumerate(KINDS, start=1):
        result = campaign.run_round(kind, number)
        ROUNDS.append(result)
        print("\n" + round_line(result))
        print(json.dumps({k: result.get(k) for k in (
            "fault", "exits", "undo_s", "converge_s", "first_refusal_s", "window_s",
            "max_gap_s", "resume_after_undo_s", "outcomes_by_node", "tokens", "cas",
            "log_findings")}, indent=1))
        if "skipped" in result:
            print(f"{kind} skipped: {result['skipped']}")
            continue
        wrong += check_round(kind, result)
    assert wrong == [], "\n".join(wrong)


def test_the_checks_catch_a_lost_write_a_duplicated_cas_version_and_a_stale_read(
        campaign: Campaign) -> None:
    """The zeros above mean something: fabricated evidence is reported."""
    from tests.faults.campaign import Ack, Load

    campaign.wait_converged()
    load = Load(campaign, 10_000)
    index = ""
    with campaign.root_client(campaign.leader()) as client:
        response = client.post(f"/v1/secret/data/{load.cas_path}", json={"data": {"n": 1}})
        assert response.status_code == 200
        index = response.headers["x-vault-index"]
    load.acked["campaign/never-written"] = Ack("campaign/never-written", {"x": 1}, 1, index, 0)
    load.cas_acked += [Ack(load.cas_path, {"n": 1}, 1, index, 0)] * 2
    load.ryw_stale.append({"path": "p", "node": "node-1", "index": index, "wrote": 2,
                           "read": 1})
    result: dict[str, object] = {}
    problems: list[str] = []
    campaign.check(load, result, problems)
    assert result["lost"] == 1
    assert result["cas_duplicated"] == 1
    assert result["stale_reads"] == 1
    assert result["divergent"] is False
    assert len(problems) == 3, problems
