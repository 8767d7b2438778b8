"""The seal values (docs/kubernetes.md "Auto-unseal"): each seal type renders its `[seal]`
table into every node's TOML, the StatefulSet mounts the Secrets it names read-only under
/etc/strongbox/seal/ (server container only), nothing secret reaches the ConfigMap or the
environment, and missing values fail with a message that says what to set: in the schema
at install, and in the templates (for a render that skips the schema)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
from helm_python import Chart
from helm_python.errors import HelmError, HelmValuesError

from strongbox.config import SealConfig, load_config
from strongbox.seal import auto
from tests.chart.conftest import CHART_DIR, Manifest, find, render, render_files

SEAL_DIR = "/etc/strongbox/seal"
PKCS11: dict[str, Any] = {"type": "pkcs11", "pkcs11": {
    "library": "/usr/lib/softhsm/libsofthsm2.so", "tokenLabel": "strongbox",
    "keyLabel": "strongbox-unseal", "generateKey": True,
    "pinSecret": {"name": "strongbox-hsm-pin"}}}
TRANSIT: dict[str, Any] = {"type": "transit", "transit": {
    "address": "https://vault-a.example:8200", "keyName": "autounseal",
    "tokenSecret": {"name": "strongbox-seal-token"},
    "tlsSecret": {"name": "vault-a-tls"}, "tlsServerName": "vault-a.example"}}
STATIC: dict[str, Any] = {"type": "static", "static": {
    "keySecret": {"name": "strongbox-static-seal"}}}
SEALS = {"pkcs11": PKCS11, "transit": TRANSIT, "static": STATIC}
EXPECTED_TABLES: dict[str, dict[str, Any]] = {
    "pkcs11": {"type": "pkcs11", "lib": "/usr/lib/softhsm/libsofthsm2.so",
               "token_label": "strongbox", "key_label": "strongbox-unseal",
               "mechanism": "aes-gcm", "generate_key": True,
               "pin_file": f"{SEAL_DIR}/pin"},
    "transit": {"type": "transit", "address": "https://vault-a.example:8200",
                "key_name": "autounseal", "mount_path": "transit/",
                "token_file": f"{SEAL_DIR}/token", "tls_ca_cert": f"{SEAL_DIR}/tls/ca.crt",
                "tls_server_name": "vault-a.example", "tls_skip_verify": False},
    "static": {"type": "static", "key_file": f"{SEAL_DIR}/key"},
}
EXPECTED_SOURCES: dict[str, list[dict[str, Any]]] = {
    "pkcs11": [{"secret": {"name": "strongbox-hsm-pin",
                           "items": [{"key": "pin", "path": "pin"}]}}],
    "transit": [{"secret": {"name": "strongbox-seal-token",
                            "items": [{"key": "token", "path": "token"}]}},
                {"secret": {"name": "vault-a-tls",
                            "items": [{"key": "ca.crt", "path": "tls/ca.crt"}]}}],
    "static": [{"secret": {"name": "strongbox-static-seal",
                           "items": [{"key": "key", "path": "key"}]}}],
}


def seal_values(kind: str, **extra: Any) -> dict[str, Any]:
    return {"seal": SEALS[kind], **extra}


def configs(objects: list[Manifest]) -> dict[str, dict[str, Any]]:
    data = find(objects, "ConfigMap", "strongbox-config")["data"]
    return {name: tomllib.loads(text) for name, text in data.items()}


def pod_spec(objects: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = find(objects, "StatefulSet")["spec"]["template"]["spec"]
    return spec


def container(objects: list[Manifest], name: str = "strongbox") -> dict[str, Any]:
    return next(c for c in pod_spec(objects)["containers"] if c["name"] == name)


def volume(objects: list[Manifest], name: str) -> dict[str, Any] | None:
    return next((v for v in pod_spec(objects)["volumes"] if v["name"] == name), None)


def test_the_default_is_shamir_no_seal_table_and_no_seal_volume() -> None:
    objects = render()
    for config in configs(objects).values():
        assert "seal" not in config and "previous_seal" not in config
    assert volume(objects, "seal") is None
    assert all(m["name"] != "seal" for m in container(objects)["volumeMounts"])
    assert render({"seal": {"type": "shamir"}}) == objects


@pytest.mark.parametrize("kind", sorted(SEALS))
def test_every_node_gets_the_seal_table(kind: str) -> None:
    rendered = configs(render(seal_values(kind)))
    assert len(rendered) == 3
    for config in rendered.values():
        assert config["seal"] == EXPECTED_TABLES[kind]


@pytest.mark.parametrize("kind", sorted(SEALS))
def test_the_secrets_are_mounted_read_only_in_the_server_only(kind: str) -> None:
    objects = render(seal_values(kind, bootstrap={"enabled": True}))
    seal = volume(objects, "seal")
    assert seal is not None
    assert seal["projected"]["defaultMode"] == 0o400
    assert seal["projected"]["sources"] == EXPECTED_SOURCES[kind]
    assert {"name": "seal", "mountPath": SEAL_DIR, "readOnly": True} in \
        container(objects)["volumeMounts"]
    assert all(m["name"] != "seal" for m in container(objects, "podlabel")["volumeMounts"])
    job = find(objects, "Job", "strongbox-bootstrap")["spec"]["template"]["spec"]
    assert all(v["name"] != "seal" for v in job["volumes"])
    # every file the [seal] table names is one the volume provides
    table = EXPECTED_TABLES[kind]
    paths = {item["path"] for s in seal["projected"]["sources"] for item in s["secret"]["items"]}
    named = {v.removeprefix(SEAL_DIR + "/") for v in table.values()
             if isinstance(v, str) and v.startswith(SEAL_DIR)}
    assert named == paths


def test_nothing_secret_goes_into_the_config_map_or_the_environment() -> None:
    values = {"seal": {**TRANSIT, "transit": {**TRANSIT["transit"], "namespace": "team-a"}},
              "server": {"extraEnv": [{"name": "TZ", "value": "UTC"}]}}
    objects = render(values)
    text = "\n".join(find(objects, "ConfigMap", "strongbox-config")["data"].values())
    assert "strongbox-seal-token" not in text       # only the file path, not even the name
    for spec in (pod_spec(objects),):
        for c in spec["containers"]:
            names = {e["name"] for e in c.get("env", [])}
            assert not names & {"STRONGBOX_SEAL_TOKEN", "VAULT_TOKEN", "STRONGBOX_SEAL_PIN",
                                "VAULT_HSM_PIN", "STRONGBOX_SEAL_STATIC_KEY"}
            assert all("secretKeyRef" not in e.get("valueFrom", {}) for e in c.get("env", []))


def test_pkcs11_options_slot_mechanism_and_key_names() -> None:
    pkcs11 = {**PKCS11["pkcs11"], "tokenLabel": "", "slot": 0, "mechanism": "rsa-oaep",
              "rsaOaepHash": "sha384", "generateKey": False,
              "pinSecret": {"name": "hsm", "key": "user-pin"}}
    objects = render({"seal": {"type": "pkcs11", "pkcs11": pkcs11}})
    table = configs(objects)["strongbox-1.toml"]["seal"]
    assert table["slot"] == 0 and "token_label" not in table
    assert table["mechanism"] == "rsa-oaep" and table["generate_key"] is False
    assert table["rsa_oaep_hash"] == "sha384"
    assert "rsa_oaep_hash" not in configs(render(seal_values("pkcs11")))[
        "strongbox-0.toml"]["seal"]
    sources = volume(objects, "seal")["projected"]["sources"]  # type: ignore[index]
    assert sources == [{"secret": {"name": "hsm", "items": [{"key": "user-pin",
                                                              "path": "pin"}]}}]


def test_transit_client_certificate_namespace_and_skip_verify() -> None:
    transit = {**TRANSIT["transit"], "namespace": "team-a", "mountPath": "seal-transit/",
               "tlsSkipVerify": True, "tlsServerName": "",
               "tlsSecret": {"name": "mtls", "caKey": "", "certKey": "tls.crt",
                             "keyKey": "tls.key"}}
    objects = render({"seal": {"type": "transit", "transit": transit}})
    table = configs(objects)["strongbox-0.toml"]["seal"]
    assert table == {"type": "transit", "address": "https://vault-a.example:8200",
                     "key_name": "autounseal", "mount_path": "seal-transit/",
                     "namespace": "team-a", "token_file": f"{SEAL_DIR}/token",
                     "tls_client_cert": f"{SEAL_DIR}/tls/client.crt",
                     "tls_client_key": f"{SEAL_DIR}/tls/client.key", "tls_skip_verify": True}
    sources = volume(objects, "seal")["projected"]["sources"]  # type: ignore[index]
    assert sources[1] == {"secret": {"name": "mtls", "items": [
        {"key": "tls.crt", "path": "tls/client.crt"},
        {"key": "tls.key", "path": "tls/client.key"}]}}
    # no tlsSecret at all: the system CAs, no TLS files
    bare = {**TRANSIT["transit"], "tlsSecret": {"name": ""}}
    plain = configs(render({"seal": {"type": "transit", "transit": bare}}))
    assert not {k for k in plain["strongbox-0.toml"]["seal"] if k.startswith("tls_c")}


def test_strings_with_quotes_and_backslashes_stay_valid_toml() -> None:
    pkcs11 = {**PKCS11["pkcs11"], "tokenLabel": 'my "token" \\ 1', "keyLabel": "k\u00e9y"}
    table = configs(render({"seal": {"type": "pkcs11", "pkcs11": pkcs11}}))[
        "strongbox-0.toml"]["seal"]
    assert table["token_label"] == 'my "token" \\ 1' and table["key_label"] == "k\u00e9y"


def test_extra_volumes_mounts_and_init_containers_for_an_hsm_library() -> None:
    values = seal_values("pkcs11", server={
        "extraVolumes": [{"name": "hsm-lib", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "hsm-lib", "mountPath": "/opt/hsm", "readOnly": True}],
        "extraInitContainers": [{"name": "copy-hsm-lib", "image": "vendor/hsm-client:1.0",
                                 "command": ["cp", "/lib/libhsm.so", "/opt/hsm/"],
                                 "volumeMounts": [{"name": "hsm-lib",
                                                   "mountPath": "/opt/hsm"}]}]})
    objects = render(values)
    spec = pod_spec(objects)
    assert [c["name"] for c in spec["initContainers"]] == ["copy-hsm-lib"]
    assert {"name": "hsm-lib", "emptyDir": {}} in spec["volumes"]
    assert {"name": "hsm-lib", "mountPath": "/opt/hsm", "readOnly": True} in \
        container(objects)["volumeMounts"]
    assert "initContainers" not in pod_spec(render())


@pytest.mark.parametrize("kind", sorted(SEALS))
def test_every_manifest_validates_with_each_seal(kind: str) -> None:
    values = seal_values(kind, bootstrap={"enabled": True, "insecureDev": True},
                         server={"extraVolumes": [{"name": "lib", "hostPath": {
                             "path": "/usr/lib/softhsm", "type": "Directory"}}],
                             "extraVolumeMounts": [{"name": "lib",
                                                    "mountPath": "/usr/lib/softhsm",
                                                    "readOnly": True}]})
    for obj in render(values):
        if obj["kind"] == "Certificate":
            continue
        kubernetes_validate.validate(obj, "1.30", strict=True)


@pytest.mark.parametrize("kind", sorted(SEALS))
def test_helm_lint_is_clean_with_each_seal(kind: str) -> None:
    report = helm_python.lint(CHART_DIR, seal_values(kind), strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_static_seal_notes_warn_it_is_for_development_only() -> None:
    notes = render_files(seal_values("static"))["strongbox/templates/NOTES.txt"]
    assert "WARNING: seal.type=static" in notes and "development and tests ONLY" in notes
    assert "recovery" in notes
    assert "WARNING" not in render_files()["strongbox/templates/NOTES.txt"]


# -- the rendered tables, read by the server's own config loader and seal code ------------

def _local(text: str, root: Path) -> str:
    """The rendered config with the pod's mount points as directories under root."""
    for mount, local in ((SEAL_DIR, "seal"), ("/etc/strongbox/tls", "tls"),
                         ("/var/lib/strongbox", "data")):
        text = text.replace(mount, str(root / local))
    return text


def _loaded_seal(values: dict[str, Any], root: Path) -> SealConfig:
    text = find(render(values), "ConfigMap", "strongbox-config")["data"]["strongbox-0.toml"]
    for name in ("tls.crt", "tls.key", "ca.crt"):
        (root / "tls" / "strongbox-0").mkdir(parents=True, exist_ok=True)
        (root / "tls" / "strongbox-0" / name).write_text("x")
    (root / "node.toml").write_text(_local(text, root))
    return load_config(root / "node.toml", env={}).seal


def test_the_static_table_builds_the_servers_static_seal(tmp_path: Path) -> None:
    (tmp_path / "seal").mkdir()
    (tmp_path / "seal" / "key").write_text("ab" * 32)          # what the Secret holds
    seal = auto.build(_loaded_seal(seal_values("static"), tmp_path), env={})
    assert seal is not None and seal.type == "static"
    assert seal.unwrap(seal.wrap(b"unseal key")) == b"unseal key"


def test_the_transit_table_is_accepted_by_the_servers_transit_settings(tmp_path: Path) -> None:
    from strongbox.seal import transit_seal

    (tmp_path / "seal" / "tls").mkdir(parents=True)
    (tmp_path / "seal" / "token").write_text("hvs.seal-token\n")
    for name in ("ca.crt", "client.crt", "client.key"):
        (tmp_path / "seal" / "tls" / name).write_text("x")
    transit = {**TRANSIT["transit"], "namespace": "team-a",
               "tlsSecret": {"name": "mtls", "certKey": "tls.crt", "keyKey": "tls.key"}}
    config = _loaded_seal({"seal": {"type": "transit", "transit": transit}}, tmp_path)
    assert config.type == "transit"
    settings = transit_seal.TransitSettings.from_options(config.options, env={})
    assert settings.token == "hvs.seal-token"
    assert (settings.address, settings.key_name, settings.mount_path, settings.namespace) == \
        ("https://vault-a.example:8200", "autounseal", "transit/", "team-a")
    assert settings.tls_client_key == str(tmp_path / "seal" / "tls" / "client.key")
    assert settings.tls_server_name == "vault-a.example" and settings.tls_skip_verify is False


def test_the_pkcs11_table_is_accepted_by_the_servers_pkcs11_settings(tmp_path: Path) -> None:
    pkcs11_seal = pytest.importorskip("strongbox.seal.pkcs11_seal",
                                      reason="python-pkcs11 is not installed")
    (tmp_path / "seal").mkdir()
    (tmp_path / "seal" / "pin").write_text("1234\n")
    config = _loaded_seal(seal_values("pkcs11"), tmp_path)
    assert config.type == "pkcs11"
    settings = pkcs11_seal.Pkcs11Settings.from_options(config.options, {})
    assert "1234" not in repr(settings) and settings.pin == "1234"
    assert (settings.library, settings.token_label, settings.key_label, settings.mechanism,
            settings.generate_key) == ("/usr/lib/softhsm/libsofthsm2.so", "strongbox",
                                       "strongbox-unseal", "aes-gcm", True)
    by_slot = {**PKCS11["pkcs11"], "tokenLabel": "", "slot": 3, "mechanism": "CKM_RSA_PKCS_OAEP",
               "rsaOaepHash": "sha512"}
    config = _loaded_seal({"seal": {"type": "pkcs11", "pkcs11": by_slot}}, tmp_path)
    settings = pkcs11_seal.Pkcs11Settings.from_options(config.options, {})
    assert (settings.slot, settings.mechanism, settings.rsa_oaep_hash) == (3, "rsa-oaep",
                                                                           "sha512")


# -- refusals ------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "complaint"), [
    ({"seal": {"type": "awskms"}}, "value must be one of 'shamir', 'pkcs11'"),
    ({"seal": {"type": "pkcs11"}}, "/seal/pkcs11/keyLabel"),
    ({"seal": {"type": "pkcs11", "pkcs11": {**PKCS11["pkcs11"], "library": ""}}},
     "/seal/pkcs11/library"),
    ({"seal": {"type": "pkcs11", "pkcs11": {**PKCS11["pkcs11"], "pinSecret": {"name": ""}}}},
     "/seal/pkcs11/pinSecret/name"),
    ({"seal": {"type": "pkcs11", "pkcs11": {**PKCS11["pkcs11"], "mechanism": "des"}}},
     "/seal/pkcs11/mechanism"),
    ({"seal": {"type": "pkcs11", "pkcs11": {**PKCS11["pkcs11"], "slot": -1}}},
     "/seal/pkcs11/slot"),
    ({"seal": {"type": "pkcs11", "pkcs11": {**PKCS11["pkcs11"], "pin": "1234"}}},
     "additional properties 'pin' not allowed"),
    ({"seal": {"type": "transit"}}, "/seal/transit/address"),
    ({"seal": {"type": "transit", "transit": {**TRANSIT["transit"],
                                              "tokenSecret": {"name": ""}}}},
     "/seal/transit/tokenSecret/name"),
    ({"seal": {"type": "transit", "transit": {**TRANSIT["transit"],
                                              "address": "vault-a:8200"}}},
     "/seal/transit/address"),
    ({"seal": {"type": "transit", "transit": {**TRANSIT["transit"], "token": "hvs.x"}}},
     "additional properties 'token' not allowed"),
    ({"seal": {"type": "static"}}, "/seal/static/keySecret/name"),
    ({"seal": {"typ": "static"}}, "additional properties 'typ' not allowed"),
])
def test_the_schema_refuses(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(HelmValuesError, match=complaint):
        render(values)


@pytest.fixture(scope="module")
def schemaless_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart without its schema: what `helm template --skip-schema-validation` (or a
    tool that ignores the schema) renders; the templates still refuse."""
    copy = tmp_path_factory.mktemp("chart") / "strongbox"
    shutil.copytree(CHART_DIR, copy)
    (copy / "values.schema.json").unlink()
    return copy


@pytest.mark.parametrize(("seal", "message"), [
    ({"type": "pkcs11"}, "seal.type=pkcs11 needs seal.pkcs11.library"),
    ({"type": "pkcs11", "pkcs11": {**PKCS11["pkcs11"], "keyLabel": ""}},
     "seal.type=pkcs11 needs seal.pkcs11.keyLabel"),
    ({"type": "pkcs11", "pkcs11": {**PKCS11["pkcs11"], "pinSecret": {"name": ""}}},
     r"seal.type=pkcs11 needs seal.pkcs11.pinSecret.name: a Secret holding the token's PIN"),
    ({"type": "pkcs11", "pkcs11": {**PKCS11["pkcs11"], "tokenLabel": ""}},
     "needs seal.pkcs11.tokenLabel or seal.pkcs11.slot"),
    ({"type": "pkcs11", "pkcs11": {**PKCS11["pkcs11"], "slot": 2}},
     "set tokenLabel or slot, not both"),
    ({"type": "transit"}, "seal.type=transit needs seal.transit.address"),
    ({"type": "transit", "transit": {**TRANSIT["transit"], "keyName": ""}},
     "seal.type=transit needs seal.transit.keyName"),
    ({"type": "transit", "transit": {**TRANSIT["transit"], "tokenSecret": {"name": ""}}},
     "seal.type=transit needs seal.transit.tokenSecret.name"),
    ({"type": "transit", "transit": {**TRANSIT["transit"],
                                     "tlsSecret": {"name": "m", "certKey": "tls.crt"}}},
     "certKey and keyKey go together"),
    ({"type": "transit", "transit": {**TRANSIT["transit"],
                                     "tlsSecret": {"name": "", "certKey": "a", "keyKey": "b"}}},
     "need seal.transit.tlsSecret.name"),
    ({"type": "static"}, "seal.type=static needs seal.static.keySecret.name"),
    ({"type": "kms"}, "seal.type must be shamir, pkcs11, transit or static"),
])
def test_the_templates_refuse_with_what_to_set(schemaless_chart: Path, seal: dict[str, Any],
                                               message: str) -> None:
    with Chart.load(schemaless_chart) as chart, pytest.raises(HelmError, match=message):
        chart.render(values={"seal": seal}, name="strongbox", namespace="vault",
                     is_install=True)


# -- previousSeal: migrating away from an auto-unseal seal --------------------------------

PREVIOUS_DIR = "/etc/strongbox/previous-seal"


def test_previous_seal_renders_beside_the_new_one_with_its_own_secrets() -> None:
    objects = render({"seal": PKCS11, "previousSeal": STATIC})     # static -> pkcs11
    for config in configs(objects).values():
        assert config["seal"] == EXPECTED_TABLES["pkcs11"]
        assert config["previous_seal"] == {"type": "static", "key_file": f"{PREVIOUS_DIR}/key"}
    previous = volume(objects, "previous-seal")
    assert previous is not None and previous["projected"]["defaultMode"] == 0o400
    assert previous["projected"]["sources"] == EXPECTED_SOURCES["static"]
    mounts = container(objects)["volumeMounts"]
    assert {"name": "seal", "mountPath": SEAL_DIR, "readOnly": True} in mounts
    assert {"name": "previous-seal", "mountPath": PREVIOUS_DIR, "readOnly": True} in mounts
    for obj in objects:
        if obj["kind"] != "Certificate":
            kubernetes_validate.validate(obj, "1.30", strict=True)


def test_back_to_shamir_renders_only_the_previous_seal(tmp_path: Path) -> None:
    transit = {"type": "transit", "transit": {                  # sparse: defaults apply
        "address": "https://vault-a.example:8200", "keyName": "autounseal",
        "tokenSecret": {"name": "old-token"}, "tlsSecret": {"name": "old-ca"}}}
    objects = render({"previousSeal": transit})
    config = configs(objects)["strongbox-0.toml"]
    assert "seal" not in config
    assert config["previous_seal"] == {
        "type": "transit", "address": "https://vault-a.example:8200",
        "key_name": "autounseal", "mount_path": "transit/",
        "token_file": f"{PREVIOUS_DIR}/token", "tls_ca_cert": f"{PREVIOUS_DIR}/tls/ca.crt",
        "tls_skip_verify": False}
    assert volume(objects, "seal") is None
    assert volume(objects, "previous-seal")["projected"]["sources"] == [  # type: ignore[index]
        {"secret": {"name": "old-token", "items": [{"key": "token", "path": "token"}]}},
        {"secret": {"name": "old-ca", "items": [{"key": "ca.crt", "path": "tls/ca.crt"}]}}]
    text = find(objects, "ConfigMap", "strongbox-config")["data"]["strongbox-0.toml"]
    for name in ("tls.crt", "tls.key", "ca.crt"):
        (tmp_path / "tls" / "strongbox-0").mkdir(parents=True, exist_ok=True)
        (tmp_path / "tls" / "strongbox-0" / name).write_text("x")
    text = text.replace(PREVIOUS_DIR, str(tmp_path / "previous"))
    (tmp_path / "node.toml").write_text(_local(text, tmp_path))
    loaded = load_config(tmp_path / "node.toml", env={})
    assert loaded.seal.type == "shamir" and loaded.previous_seal is not None
    assert loaded.previous_seal.type == "transit"


@pytest.mark.parametrize(("values", "complaint"), [
    ({"previousSeal": {"type": "shamir"}}, "/previousSeal/type"),
    ({"previousSeal": {"type": "static"}}, "at '/previousSeal': missing property 'static'"),
    ({"previousSeal": {"type": "pkcs11", "pkcs11": {"library": "/x.so"}}},
     "at '/previousSeal/pkcs11': missing properties 'keyLabel', 'pinSecret'"),
])
def test_the_schema_refuses_an_incomplete_previous_seal(values: dict[str, Any],
                                                        complaint: str) -> None:
    with pytest.raises(HelmValuesError, match=complaint):
        render(values)


@pytest.mark.parametrize(("values", "message"), [
    ({"previousSeal": {"type": "static"}},
     "previousSeal.type=static needs previousSeal.static.keySecret.name"),
    ({"previousSeal": {"type": "pkcs11", "pkcs11": {"library": "/x.so"}}},
     "previousSeal.type=pkcs11 needs previousSeal.pkcs11.keyLabel"),
    ({"seal": STATIC, "previousSeal": STATIC},
     "previousSeal.type and seal.type are both static"),
])
def test_the_templates_refuse_an_incomplete_previous_seal(
        schemaless_chart: Path, values: dict[str, Any], message: str) -> None:
    with Chart.load(schemaless_chart) as chart, pytest.raises(HelmError, match=message):
        chart.render(values=values, name="strongbox", namespace="vault", is_install=True)


def test_the_same_seal_twice_is_refused_with_the_schema_too() -> None:
    with pytest.raises(HelmError, match=r"previousSeal\.type and seal\.type are both static"):
        render({"seal": STATIC, "previousSeal": STATIC})
