"""The documentation site: it builds with no warning, offline, and its generated reference pages cover
the code — every setting, magic option, subcommand, ledger table and column, event and module — so a
feature added later is documented with no edit to the docs. The README stays short and its links work.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest
from docutils.nodes import make_id
from traitlets import Int, Unicode
from traitlets.config import Configurable

import agent_magic.config
import agent_magic.events
from agent_magic.config import AgentMagic
from agent_magic.ledger.migrations import migrate

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
sys.path.insert(0, str(DOCS / "_ext"))

from config_reference import configurables, trait_docs  # noqa: E402  (docs/_ext is not a package)
from magics_reference import magic_parser, option_rows, subcommands  # noqa: E402

# A proxy on a closed loopback port: any request the build tried to make would fail, and -W would
# turn that failure into an error. The build must need nothing but the files here.
NO_NETWORK = "http://127.0.0.1:9"


def sphinx_build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Build `source` to HTML the way `make docs` does (-W: any warning fails), with no network."""
    env = {**os.environ, "HTTP_PROXY": NO_NETWORK, "HTTPS_PROXY": NO_NETWORK, "ALL_PROXY": NO_NETWORK}
    env.pop("NO_PROXY", None)
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E", "-b", "html", str(source), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs built once for this module; fails every test that needs it if the build warned."""
    out = tmp_path_factory.mktemp("docs-html")
    result = sphinx_build(DOCS, out)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    return out


class _Rows(HTMLParser):
    """The text of each table row of a page, keyed by the row's id (rows without one are skipped)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, str] = {}
        self._id: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._id, self._text = dict(attrs).get("id"), []

    def handle_data(self, data: str) -> None:
        if self._id is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._id is not None:
            self.rows[self._id] = " ".join(" ".join(self._text).split())
            self._id = None


def rows_of(page: Path) -> dict[str, str]:
    parser = _Rows()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.rows


def text_of(page: Path) -> str:
    html = page.read_text(encoding="utf-8")
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&quot;", '"').replace("&#39;", "'").split())


# -- the build ---------------------------------------------------------------------------------------


def test_the_docs_build_offline_with_no_warning(site):
    assert (site / "index.html").is_file()
    assert (site / "approval.png").is_file() or (site / "_images" / "approval.png").is_file()


def test_every_page_is_built_from_its_markdown_source(site):
    sources = {p.relative_to(DOCS).with_suffix("") for p in DOCS.rglob("*.md") if "_build" not in p.parts}
    assert sources, "no pages found"
    for source in sources:
        assert (site / source).with_suffix(".html").is_file(), source


def test_a_link_to_a_missing_page_or_heading_fails_the_build(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text('extensions = ["myst_parser"]\nmyst_heading_anchors = 3\n')
    (source / "index.md").write_text("# Home\n\n[gone](gone.md) and [no heading](index.md#nowhere)\n")
    result = sphinx_build(source, tmp_path / "out")
    assert result.returncode != 0
    assert "gone.md" in result.stderr and "nowhere" in result.stderr


# -- the configuration reference ---------------------------------------------------------------------


def test_every_configurable_trait_is_in_the_configuration_reference(site):
    rows = rows_of(site / "reference" / "configuration.html")
    classes = configurables(agent_magic.config)
    assert AgentMagic in classes
    assert sum(len(cls.class_traits(config=True)) for cls in classes) >= 31
    for cls in classes:
        for name, trait in cls.class_traits(config=True).items():
            row = rows.get(make_id(f"{cls.__name__}.{name}"))
            assert row is not None, f"{cls.__name__}.{name} is missing from the configuration reference"
            assert row.startswith(name)
            assert " ".join(trait.help.split())[:40] in row


def test_the_reference_shows_defaults_choices_and_environment_variables(site):
    rows = rows_of(site / "reference" / "configuration.html")
    assert "10" in rows[make_id("AgentMagic.max_steps")]
    assert "one of 'auto', 'bwrap', 'none'" in rows[make_id("AgentMagic.shell_sandbox")]
    assert "$AGENT_MAGIC_HEADLESS_APPROVAL" in rows[make_id("AgentMagic.headless_approval")]
    assert "$OPENAI_BASE_URL" in rows[make_id("AgentMagic.base_url")]


class ExtendedSettings(AgentMagic):
    """Settings with one knob more than today's, as a later change would add it."""

    knob = Int(3, min=1, max=9, help="Turns of the knob. Default: $AGENT_MAGIC_KNOB, else 3.").tag(config=True)
    internal = Int(0, help="Not configurable, so not documented.")


class SecondSettings(Configurable):
    """A second group of settings in the same module."""

    colour = Unicode("blue", help="The colour.").tag(config=True)


def test_a_trait_added_later_is_documented_with_its_bounds_default_and_environment():
    docs = {doc.name: doc for doc in trait_docs(ExtendedSettings)}
    knob = docs["knob"]
    assert (knob.type, knob.bounds, knob.default, knob.environment) == ("int", "≥ 1, ≤ 9", "3", ("AGENT_MAGIC_KNOB",))
    assert knob.help == "Turns of the knob. Default: $AGENT_MAGIC_KNOB, else 3."
    assert "internal" not in docs
    assert set(docs) == set(AgentMagic.class_traits(config=True)) | {"knob"}


def test_traits_are_listed_in_declaration_order_not_alphabetically():
    names = [doc.name for doc in trait_docs(AgentMagic)]
    assert names.index("retry_max_attempts") + 1 == names.index("retry_initial_wait")


def test_every_configurable_defined_in_a_module_gets_a_table_and_imported_ones_do_not():
    assert configurables(sys.modules[__name__]) == [ExtendedSettings, SecondSettings]


# -- the magics reference ----------------------------------------------------------------------------


def test_every_magic_option_is_in_the_magics_reference(site):
    text = text_of(site / "reference" / "magics.html")
    parsers = [parser for parser in (magic_parser("cell"), magic_parser("line")) if parser is not None]
    options = [s for p in parsers for action in p._actions for s in action.option_strings if s not in ("-h", "--help")]
    assert "--model" in options and "--approve" in options
    for option in options:
        assert option in text, f"{option} is missing from the magics reference"


def test_every_subcommand_is_in_the_magics_reference_with_its_help(site):
    text = text_of(site / "reference" / "magics.html")
    commands = subcommands()
    assert {"help", "reset", "usage"} <= {name for name, _ in commands}
    for name, help_text in commands:
        assert f"%agent {name} {help_text}" in text


def test_option_help_reads_as_the_magic_prints_it():
    # argparse help is %-formatted, as `%%agent?` prints it: "%%agent" reads "%agent", defaults filled in
    parser = argparse.ArgumentParser(prog="%agent")
    parser.add_argument("--plot", action="store_true", help="with %%agent usage: draw a chart")
    parser.add_argument("--steps", type=int, metavar="N", default=3, help="at most N steps (default: %(default)s)")
    parser.add_argument("words", nargs="*", help="a subcommand")
    assert option_rows(parser) == [
        ("--plot", "", "with %agent usage: draw a chart"),
        ("--steps", "N (int)", "at most N steps (default: 3)"),
        ("words", "…", "a subcommand"),
    ]


def test_subcommands_are_read_from_a_mapping_or_from_objects_with_name_and_help():
    @dataclasses.dataclass
    class Subcommand:
        name: str
        help: str

    assert subcommands({"reset": "start over"}) == [("reset", "start over")]
    assert subcommands((Subcommand("reset", "start over"),)) == [("reset", "start over")]


# -- the ledger schema -------------------------------------------------------------------------------


def test_every_ledger_table_and_column_is_in_the_schema_page(site):
    rows = rows_of(site / "reference" / "ledger-schema.html")
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != '_migrations'")]
    assert {"sessions", "turns", "model_calls", "tool_calls", "approvals", "messages"} <= set(tables)
    for table in tables:
        for _, column, kind, *_ in db.execute(f'PRAGMA table_info("{table}")'):
            row = rows.get(make_id(f"ledger-{table}.{column}"))
            assert row is not None, f"{table}.{column} is missing from the ledger schema"
            assert row.startswith(f"{column} {kind}")


def test_a_schema_note_about_a_column_that_does_not_exist_fails_the_build(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\nextensions = ['myst_parser', 'ledger_schema']\n"
    )
    (source / "index.md").write_text(
        textwrap.dedent(
            """\
            # Schema

            ```{agent-ledger-schema}
            model_calls.cost_usd: dollars.
            model_calls.cost_in_euros: a column that was renamed long ago.
            ```
            """
        )
    )
    result = sphinx_build(source, tmp_path / "out")
    assert result.returncode != 0
    assert "model_calls.cost_in_euros" in result.stderr
    assert "model_calls.cost_usd'" not in result.stderr


# -- events and modules ------------------------------------------------------------------------------


def test_every_event_is_in_the_events_reference(site):
    text = text_of(site / "reference" / "events.html")
    events = [
        cls
        for cls in vars(agent_magic.events).values()
        if isinstance(cls, type) and dataclasses.is_dataclass(cls) and issubclass(cls, agent_magic.events.Event)
    ]
    assert len(events) > 10
    for event in events:
        assert event.__name__ in text
        for field in dataclasses.fields(event):
            assert field.name in text


def test_every_python_module_is_in_the_architecture_module_table(site):
    text = text_of(site / "architecture.html")
    package = ROOT / "agent_magic"
    for path in package.rglob("*.py"):
        assert path.relative_to(package).as_posix() in text, f"{path} is missing from the module table"


def test_every_labextension_source_file_is_described_on_the_architecture_page():
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    sources = sorted((ROOT / "labextension" / "src").glob("*.ts"))
    assert sources
    for source in sources:
        assert f"`{source.name}`" in page, f"labextension/src/{source.name} is missing from docs/architecture.md"


# -- the README --------------------------------------------------------------------------------------


def test_the_readme_is_under_200_lines():
    assert len(README.read_text(encoding="utf-8").splitlines()) < 200


def test_the_readme_keeps_the_two_commands():
    readme = README.read_text(encoding="utf-8")
    assert (
        "make demo   # 1. creates .venv, installs agent_magic, runs notebooks/quickstart.ipynb on the offline\n"
        "            #    demo model; the executed notebook is notebooks/executed/quickstart.ipynb\n"
        "make test   # 2. the whole test suite (unit, real kernels, notebooks via nbval, browser tests)\n"
    ) in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_in_the_readme_points_at_an_existing_file_and_heading():
    readme = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(relative) >= 10
    for link in relative:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.is_file(), f"README links to {path}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), re.M)
            assert anchor in {github_anchor(h) for h in headings}, f"README links to {link}: no such heading"
