"""strongbox.obs.metrics: metric names and labels, the scrape-time status collector, and
route templates that never carry a raw (secret-naming) path."""

from __future__ import annotations

import sys

import prometheus_client
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from strongbox.obs.metrics import TEMPLATE_WORDS, Metrics, MetricsSnapshot, route_template

SNAP = MetricsSnapshot(raft_term=7, commit_index=120, applied_index=118, is_leader=True,
                       sealed=False, initialized=True, kek_install_time_s=1_000.0,
                       active_secrets=42)

STATUS_GAUGES = ("strongbox_raft_term", "strongbox_raft_commit_index",
                 "strongbox_raft_applied_index", "strongbox_seal_status",
                 "strongbox_kek_rotation_age_seconds", "strongbox_active_secrets_total",
                 "strongbox_node_is_leader", "strongbox_disk_low")


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, tuple(sorted(labels.items()))))


def test_render_returns_the_text_exposition_and_its_content_type() -> None:
    body, content_type = Metrics(lambda: SNAP).render()
    assert content_type.startswith("text/plain")
    assert b"# TYPE strongbox_request_duration_seconds histogram" in body


def test_every_metric_appears_with_its_labels_after_observations() -> None:
    metrics = Metrics(lambda: SNAP, clock=lambda: 1_060.0)
    metrics.observe_request(method="GET", route="/v1/{mount}/data/*", status=200,
                            node_role="follower", seconds=0.003)
    metrics.leader_changed()
    metrics.observe_apply(0.0004)
    metrics.observe_fsync(0.002)
    metrics.token_validation_error("expired")
    metrics.audit_failure("file/")
    metrics.leases_expired(3)
    metrics.cache_hit("token")
    metrics.write_queue_rejected()
    got = samples(metrics)

    request = {"method": "GET", "route": "/v1/{mount}/data/*", "status": "200",
               "node_role": "follower"}
    assert got[("strongbox_request_duration_seconds_count", tuple(sorted(request.items())))] == 1
    assert got[("strongbox_request_duration_seconds_bucket",
                tuple(sorted({**request, "le": "0.005"}.items())))] == 1
    assert got[("strongbox_raft_leader_changes_total", ())] == 1
    assert got[("strongbox_raft_apply_duration_seconds_count", ())] == 1
    assert got[("strongbox_journal_fsync_duration_seconds_count", ())] == 1
    assert got[("strongbox_token_validation_errors_total", (("reason", "expired"),))] == 1
    assert got[("strongbox_audit_failures_total", (("device", "file/"),))] == 1
    assert got[("strongbox_lease_expiry_total", ())] == 3
    assert got[("strongbox_cache_hits_total", (("cache", "token"),))] == 1
    assert got[("strongbox_write_queue_rejections_total", ())] == 1
    assert got[("strongbox_raft_term", ())] == 7
    assert got[("strongbox_raft_commit_index", ())] == 120
    assert got[("strongbox_raft_applied_index", ())] == 118
    assert got[("strongbox_seal_status", ())] == 0
    assert got[("strongbox_kek_rotation_age_seconds", ())] == 60
    assert got[("strongbox_active_secrets_total", ())] == 42
    assert got[("strongbox_node_is_leader", ())] == 1


def test_request_histogram_buckets_span_half_a_millisecond_to_ten_seconds() -> None:
    metrics = Metrics(lambda: SNAP)
    metrics.observe_request(method="GET", route="/v1/sys/health", status=200,
                            node_role="leader", seconds=0.0001)
    les = {dict(labels)["le"] for (name, labels) in samples(metrics)
           if name == "strongbox_request_duration_seconds_bucket"}
    assert {"0.0005", "10.0", "+Inf"} <= les


def test_status_gauges_are_read_fresh_on_every_scrape() -> None:
    current = [SNAP]
    metrics = Metrics(lambda: current[0])
    assert value(metrics, "strongbox_raft_term") == 7
    current[0] = MetricsSnapshot(raft_term=8, commit_index=200, applied_index=200,
                                 is_leader=False, sealed=True, initialized=True)
    assert value(metrics, "strongbox_raft_term") == 8
    assert value(metrics, "strongbox_raft_applied_index") == 200
    assert value(metrics, "strongbox_seal_status") == 1
    assert value(metrics, "strongbox_node_is_leader") == 0
    assert value(metrics, "strongbox_kek_rotation_age_seconds") == 0  # unknown while sealed
    assert value(metrics, "strongbox_active_secrets_total") == 0


def test_kek_age_is_never_negative_when_clocks_disagree() -> None:
    metrics = Metrics(lambda: SNAP, clock=lambda: 900.0)
    assert value(metrics, "strongbox_kek_rotation_age_seconds") == 0


def test_a_raising_status_callback_never_fails_the_scrape() -> None:
    calls = {"n": 0}

    def status() -> MetricsSnapshot:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("keyring is sealed")
        return SNAP

    metrics = Metrics(status)
    metrics.leader_changed()
    got = samples(metrics)
    assert got[("strongbox_raft_leader_changes_total", ())] == 1
    assert not any(name in STATUS_GAUGES for name, _ in got)
    assert value(metrics, "strongbox_raft_term") == 7  # the next scrape recovers


def test_registering_does_not_call_the_status_callback() -> None:
    def status() -> MetricsSnapshot:
        raise AssertionError("called at construction")

    Metrics(status)


def test_nodes_in_one_process_have_separate_registries() -> None:
    first, second = Metrics(lambda: SNAP), Metrics(lambda: SNAP)
    first.write_queue_rejected()
    assert value(first, "strongbox_write_queue_rejections_total") == 1
    assert value(second, "strongbox_write_queue_rejections_total") == 0
    assert b"strongbox_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


def test_process_metrics_are_opt_in() -> None:
    assert not any(name.startswith("process_") for name, _ in samples(Metrics(lambda: SNAP)))
    body, _ = Metrics(lambda: SNAP, process_metrics=True).render()
    if sys.platform.startswith("linux"):  # ProcessCollector reads /proc
        assert b"process_cpu_seconds_total" in body


# -- route templates ----------------------------------------------------------------------

MOUNTS = ("secret/", "kv/team-a/")


@pytest.mark.parametrize(("path", "template"), [
    ("/v1/secret/data/app/db", "/v1/{mount}/data/*"),
    ("/v1/secret/metadata/app/", "/v1/{mount}/metadata/*"),
    ("/v1/secret/metadata/", "/v1/{mount}/metadata"),
    ("/v1/secret/config", "/v1/{mount}/config"),
    ("/v1/secret/whatever/else", "/v1/{mount}/*"),
    ("/v1/kv/team-a/data/x", "/v1/{mount}/data/*"),
    ("/v1/sys/health", "/v1/sys/health"),
    ("/v1/sys/health?standbyok=true", "/v1/sys/health"),
    ("/v1/sys/seal-status", "/v1/sys/seal-status"),
    ("/v1/sys/storage/raft/snapshot", "/v1/sys/storage/raft/snapshot"),
    ("/v1/sys/policies/acl/dev-team", "/v1/sys/policies/acl/{name}"),
    ("/v1/sys/mounts/team/kv/tune", "/v1/sys/mounts/*/tune"),
    ("/v1/sys/leases/revoke-prefix/secret/app", "/v1/sys/leases/revoke-prefix/*"),
    ("/v1/auth/token/create", "/v1/auth/token/create"),
    ("/v1/auth/token/lookup/hvs.CAESIJlWh3mTqLUeXAjmq1v0P4uX", "/v1/auth/token/lookup/*"),
    ("/v1/auth/userpass/login/alice", "/v1/auth/{mount}/login/*"),
    ("/v1/auth/approle/role/web/secret-id", "/v1/auth/{mount}/role/*"),
    ("/metrics", "/metrics"),
    ("/v1/sys/no-such-endpoint", "/v1/{unmatched}"),
    ("/v1/nothing-mounted/data/x", "/v1/{unmatched}"),
    ("/v1/", "/v1/{unmatched}"),
    ("/v2/secret/data/x", "/v1/{unmatched}"),
    ("/v1/secret//data", "/v1/{unmatched}"),
])
def test_route_template_examples(path: str, template: str) -> None:
    assert route_template(path, MOUNTS) == template


def test_the_longest_mount_wins() -> None:
    assert route_template("/v1/kv/team-a/data/x", ["kv/", "kv/team-a/"]) == "/v1/{mount}/data/*"
    assert route_template("/v1/kv/team-a/data/x", ["kv/"]) == "/v1/{mount}/*"


SEGMENT = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789._-+{}*%"),
                  min_size=1, max_size=12)
PREFIXES = st.sampled_from([(), ("sys",), ("sys", "mounts"), ("sys", "policies", "acl"),
                            ("sys", "leases", "lookup"), ("auth",), ("auth", "token"),
                            ("auth", "token", "lookup"), ("auth", "userpass", "login"),
                            ("MOUNT",), ("MOUNT", "data"), ("MOUNT", "metadata")])


@given(mount=st.lists(SEGMENT, min_size=1, max_size=3), prefix=PREFIXES,
       tail=st.lists(SEGMENT, max_size=5), query=st.sampled_from(["", "?list=true"]))
def test_route_templates_contain_only_fixed_words(mount: list[str], prefix: tuple[str, ...],
                                                  tail: list[str], query: str) -> None:
    head = [part for word in prefix for part in (mount if word == "MOUNT" else [word])]
    path = "/v1/" + "/".join(head + tail) + query
    template = route_template(path, ["/".join(mount) + "/", "other/"])
    parts = template.lstrip("/").split("/")
    assert all(part in TEMPLATE_WORDS for part in parts), (path, template)
    for segment in mount + tail:
        if segment not in TEMPLATE_WORDS:
            assert segment not in parts, (path, template)


@given(mount=st.text("abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=10),
       secret=st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=4,
                               max_size=10), min_size=1, max_size=4),
       sub=st.sampled_from(["data", "metadata", "delete", "destroy", "bogus"]))
def test_secret_names_never_leak_into_the_template(mount: str, secret: list[str],
                                                   sub: str) -> None:
    path = f"/v1/zq{mount}/{sub}/" + "/".join(f"zq{s}" for s in secret)
    template = route_template(path, [f"zq{mount}/"])
    assert "zq" not in template
    assert template.startswith("/v1/{mount}/")


def test_template_vocabulary_is_small_and_fixed() -> None:
    assert len(TEMPLATE_WORDS) < 200
    assert all(word == word.strip() and "/" not in word for word in TEMPLATE_WORDS)
