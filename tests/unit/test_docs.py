"""The documentation site: builds with warnings as errors, offline, and covers the API and
every setting."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("sphinx", reason="sphinx is a dev dependency: pip install -e '.[dev]'")

from labcas_workflow_api.domain import sidecar
from labcas_workflow_api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
METHODS = ("get", "post", "put", "patch", "delete")


def sphinx_build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q"]
    command += [str(source), str(out / "html"), "-d", str(out / "doctrees")]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    result = sphinx_build(DOCS, out)
    assert result.returncode == 0, (
        f"sphinx -W failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    return out / "html"


def page_text(site: Path, name: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", (site / name).read_text(encoding="utf-8")))


def spec() -> dict:
    return yaml.safe_load((DOCS / "openapi.yml").read_text())


def setting_variables() -> list[str]:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper() for name in Settings.model_fields]


class TestApiReference:
    def test_every_path_of_the_spec_appears(self, site: Path) -> None:
        text = page_text(site, "api-reference.html")
        missing = [path for path in spec()["paths"] if path not in text]
        assert not missing, f"paths missing from the API reference: {missing}"

    def test_every_operation_has_its_section(self, site: Path) -> None:
        text = page_text(site, "api-reference.html")
        for path, item in spec()["paths"].items():
            for method in METHODS:
                if method in item:
                    assert f"{method.upper()} {path}" in text
                    assert item[method]["operationId"] in text

    def test_every_parameter_and_response_status_appears(self, site: Path) -> None:
        document = spec()
        text = page_text(site, "api-reference.html")

        def resolve(item: dict) -> dict:
            while "$ref" in item:
                target = document
                for part in item["$ref"][2:].split("/"):
                    target = target[part]
                item = target
            return item

        for item in document["paths"].values():
            for method in METHODS:
                operation = item.get(method)
                if not operation:
                    continue
                for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                    assert resolve(parameter)["name"] in text
                for status in operation.get("responses", {}):
                    assert str(status) in text

    def test_every_schema_is_described(self, site: Path) -> None:
        raw = (site / "api-reference.html").read_text(encoding="utf-8")
        for name in spec()["components"]["schemas"]:
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            assert f'id="api-schema-{slug}"' in raw


class TestConfigurationReference:
    def test_every_setting_has_an_entry(self, site: Path) -> None:
        raw = (site / "configuration.html").read_text(encoding="utf-8")
        missing = [v for v in setting_variables() if f'id="envvar-{v}"' not in raw]
        assert not missing, f"settings missing from the configuration reference: {missing}"

    def test_every_setting_appears_with_its_default(self, site: Path) -> None:
        text = page_text(site, "configuration.html")
        for name, field in Settings.model_fields.items():
            assert f"LABCAS_{name.upper()}" in text
            default = field.get_default()
            if default not in ("", None):
                shown = int(default) if isinstance(default, float) else default
                assert str(shown) in text

    def test_access_config_examples_were_checked_by_the_parser(self, site: Path) -> None:
        text = page_text(site, "configuration.html")
        assert "Checked while this page was built: 2 data selection(s), 2 user(s)." in text
        assert "collections.nebraska_images.bucket: field required" in text
        assert "unknown key" in text


class TestOffline:
    def test_no_page_loads_anything_from_the_network(self, site: Path) -> None:
        remote = re.compile(r"""^(https?:)?//""", re.IGNORECASE)
        offenders = []
        for page in site.rglob("*.html"):
            raw = page.read_text(encoding="utf-8")
            for tag in re.findall(r"<(?:script|img|iframe|source|link)\b[^>]*>", raw, re.I):
                for attr in re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']+)""", tag, re.I):
                    is_anchor_link = tag.lower().startswith("<link") and re.search(
                        r"""rel=["'](?:canonical|author|license)""", tag, re.I
                    )
                    if remote.match(attr) and not is_anchor_link:
                        offenders.append(f"{page.relative_to(site)}: {tag[:120]}")
        for sheet in site.rglob("*.css"):
            for url in re.findall(r"""(?:url\(|@import\s+)["']?([^"')\s]+)""", sheet.read_text()):
                if remote.match(url):
                    offenders.append(f"{sheet.relative_to(site)}: {url}")
        assert not offenders, "\n".join(offenders)

    def test_mermaid_is_shipped_and_loaded_only_where_needed(self, site: Path) -> None:
        script = site / "_static" / "mermaid.tiny.js"
        assert script.is_file() and script.stat().st_size > 1_000_000
        overview = (site / "overview.html").read_text(encoding="utf-8")
        assert 'src="_static/mermaid.tiny.js' in overview
        assert overview.count('<pre class="mermaid">') >= 2
        assert "mermaid.tiny.js" not in (site / "index.html").read_text(encoding="utf-8")

    def test_the_interactive_reference_is_shipped_with_the_site(self, site: Path) -> None:
        raw = (site / "api-explorer.html").read_text(encoding="utf-8")
        tags = re.findall(r"<(?:script|link)\b[^>]*>", raw, re.I)
        sources = [a for t in tags for a in re.findall(r"""\b(?:src|href)=["']([^"']+)""", t)]
        assert "_static/swagger-ui-bundle.js" in " ".join(sources)
        assert "_static/swagger-ui.css" in " ".join(sources)
        assert not [s for s in sources if re.match(r"(https?:)?//", s)], sources
        for name in ("swagger-ui-bundle.js", "swagger-ui.css", "labcas-api-explorer.js"):
            assert (site / "_static" / name).is_file()
        assert "validatorUrl: null" in (site / "_static" / "labcas-api-explorer.js").read_text()
        embedded = re.search(
            r'<script type="application/json" id="labcas-openapi-spec">(.*?)</script>', raw, re.S
        )
        assert embedded is not None
        document = json.loads(embedded.group(1))
        assert set(document["paths"]) == set(spec()["paths"])
        assert "x-amazon-apigateway" not in embedded.group(1)
        assert "swagger-ui-bundle.js" not in (site / "index.html").read_text(encoding="utf-8")

    def test_the_aws_guide_is_in_the_table_of_contents(self, site: Path) -> None:
        operations = (site / "operations" / "index.html").read_text(encoding="utf-8")
        assert "deploy-aws" in operations


def test_an_invalid_access_config_example_fails_the_build(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\nextensions = ['labcas_access']\n"
    )
    (source / "index.rst").write_text(
        "Title\n=====\n\n.. access-config-example::\n\n"
        "   collections:\n     c:\n       prefix: x/\n"
    )
    result = sphinx_build(source, tmp_path / "out")
    assert result.returncode != 0
    assert "collections.c.bucket: field required" in result.stderr


def test_the_sidecar_example_is_read_back_by_the_service() -> None:
    spec_ = importlib.util.spec_from_file_location(
        "sidecar_writer", DOCS / "examples" / "sidecar_writer.py"
    )
    assert spec_ and spec_.loader
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    body = module.sidecar_body("cells_ov.png", {"objects": 42, "note": "two\nlines", "Mode": "li"})
    assert sidecar.parse(body, "cells_ov.png") == {
        "objects": "42",
        "note": "two lines",
        "Mode": "li",
    }


def test_the_makefile_treats_warnings_as_errors() -> None:
    makefile = (DOCS / "Makefile").read_text()
    assert re.search(r"^SPHINXOPTS\s*\?=.*-W", makefile, re.MULTILINE)


@pytest.mark.parametrize(
    ("markdown", "rest"),
    [
        ("a `code` span", "a ``code`` span"),
        ("`ssm:/x`.", "``ssm:/x``."),
        ("the `param`s", "the ``param``\\ s"),
        ("x|y and name_ and 5 * 3", "x\\|y and name\\_ and 5 \\* 3"),
        ("see [docs](https://example.org)", "see `docs <https://example.org>`__"),
        ("**bold** text", "**bold** text"),
    ],
)
def test_markdown_text_becomes_safe_rest(markdown: str, rest: str) -> None:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from labcas_rst import inline
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    assert inline(markdown) == rest
