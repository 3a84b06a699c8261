"""The operator's configuration: --watch, --config, operator-wide health checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tiltrun.api.config import ConfigError, WatchedResource, parse_watch, read_config
from tiltrun.cli.operator import operator, operator_config


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("cert-manager.io/v1/certificates", ("cert-manager.io", "v1", "certificates")),
        ("v1/persistentvolumeclaims", ("", "v1", "persistentvolumeclaims")),
        (
            "apiextensions.k8s.io/v1/customresourcedefinitions",
            ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
        ),
        (" postgresql.cnpg.io/v1/clusters ", ("postgresql.cnpg.io", "v1", "clusters")),
    ],
)
def test_watch_values(text: str, parsed: tuple[str, str, str]) -> None:
    assert parse_watch(text) == WatchedResource(*parsed)


@pytest.mark.parametrize(
    "text",
    ["certificates", "cert-manager.io/certificates/", "Cert-Manager.io/v1/certificates", "a/b/c/d"],
)
def test_bad_watch_values(text: str) -> None:
    with pytest.raises(ConfigError, match="is not GROUP/VERSION/RESOURCE"):
        parse_watch(text)


def test_a_config_file() -> None:
    config = read_config(
        """
watch: [cert-manager.io/v1/certificates, v1/services, v1/services]
healthChecks:
  - apiVersion: postgresql.cnpg.io/v1
    kind: Cluster
    current: "true"
""",
        "config.yaml",
    )
    assert [str(w) for w in config.watch] == ["services/v1", "certificates.cert-manager.io/v1"]
    (check,) = config.health_checks
    assert check.source == "config.yaml: healthChecks[0]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("watch: v1/services", "watch in c.yaml must be a list of GROUP/VERSION/RESOURCE strings"),
        ("wacth: []", "c.yaml has an unknown key 'wacth'; the keys are watch and healthChecks"),
        ("- v1/services", "c.yaml must be a mapping with the keys watch and healthChecks"),
        ("watch: [services]", "watch in c.yaml: 'services' is not GROUP/VERSION/RESOURCE"),
        (
            "healthChecks: [{apiVersion: a.io, kind: A}]",
            "c.yaml: healthChecks[0].current is required",
        ),
        ("watch: [", "c.yaml is not valid YAML at line"),
    ],
)
def test_bad_config_files(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_config(text, "c.yaml")
    assert message in str(caught.value)


def test_an_empty_file_is_no_configuration() -> None:
    assert read_config("", "c.yaml") == read_config("{}", "c.yaml")


def test_flags_add_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("watch: [v1/services]\n")
    with path.open() as file:
        config = operator_config(("cert-manager.io/v1/certificates", "v1/services"), file)
    assert [w.resource for w in config.watch] == ["services", "certificates"]


def test_an_operator_wide_check_that_does_not_compile_stops_the_operator(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        'healthChecks:\n- apiVersion: a.io\n  kind: A\n  current: "self.status.phase =="\n'
    )
    result = CliRunner().invoke(operator, ["--config", str(path)])
    assert result.exit_code == 1
    assert (
        f'{path}: healthChecks[0].current: cannot compile "self.status.phase ==": ' in result.output
    )
    assert "Syntax error" in result.output


def test_a_bad_watch_flag_stops_the_operator() -> None:
    result = CliRunner().invoke(operator, ["--watch", "certificates"])
    assert result.exit_code == 1
    assert "'certificates' is not GROUP/VERSION/RESOURCE" in result.output


def test_unwatchable_kinds_concern_the_runs_that_could_select_them() -> None:
    from tiltrun.api.config import not_permitted, not_served, warnings_for

    certificates = parse_watch("cert-manager.io/v1/certificates")
    clusters = parse_watch("postgresql.cnpg.io/v1/clusters")
    missing = not_served(certificates)
    refused = not_permitted(clusters, ["list", "watch"], ["shop"])
    assert missing.sentence == (
        "not watching certificates.cert-manager.io/v1: "
        "the cluster does not serve it (is its CRD installed?)"
    )
    assert refused.sentence == (
        "not watching clusters.postgresql.cnpg.io/v1: the operator may not list, watch it in "
        'namespace shop; grant it list and watch (docs/install.md, "Watching more kinds")'
    )
    assert warnings_for([missing, refused], "shop") == [missing.sentence, refused.sentence]
    assert warnings_for([missing, refused], "other") == [missing.sentence]
    everywhere = not_permitted(clusters, ["watch"], [])
    assert "in all namespaces" in everywhere.sentence
    assert warnings_for([everywhere], "other") == [everywhere.sentence]
