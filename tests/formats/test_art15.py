"""GDPR Art. 15(1) information in manifest.json, README.txt and the PDF, localised."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest

from reasonkit_export._about import CategoryDescription, ControllerInfo, describe
from reasonkit_export.formats._base import ExportInfo, ExportStats, Section
from reasonkit_export.formats._manifest import verify_archive
from reasonkit_export.formats._pdf import PdfWriter
from reasonkit_export.formats._zip import ZipWriter, write_csv_archive

from .conftest import EXPORT_ID, GENERATED_AT

pypdf = pytest.importorskip("pypdf")

SINCE = datetime(2025, 5, 1, tzinfo=UTC)
HISTORY_ABOUT = CategoryDescription(
    description="Ihre Fragen an den Assistenten und seine Antworten.",
    purposes=("Bereitstellung des Dienstes", "Fehleranalyse"),
    legal_basis="Art. 6 Abs. 1 lit. b DSGVO",
    retention="Zwölf Monate nach der letzten Nutzung.",
).to_dict()
CONTROLLER = ControllerInfo(
    name="Beispiel GmbH",
    contact="datenschutz@beispiel.de",
    supervisory_authority="Landesbeauftragte für Datenschutz Berlin",
).to_dict()
RECORDS: dict[str, list[dict[str, Any]]] = {
    "profile": [{"name": "Zoë Ångström"}],
    "reasoning_history": [{"id": n, "prompt": f"Frage {n}"} for n in range(3)],
}


def make_info(**changes: Any) -> ExportInfo:
    """An ExportInfo for profile and reasoning_history with the given changes."""
    values: dict[str, Any] = {
        "export_id": EXPORT_ID,
        "user_id": "user-42",
        "generated_at": GENERATED_AT,
        "format": "zip",
        "categories": ("profile", "reasoning_history"),
        "generator": "reasonkit_export test",
        **changes,
    }
    return ExportInfo(**values)


def german_info() -> ExportInfo:
    """A German, incremental export with one described category, a controller, redactions."""
    return make_info(
        locale="de",
        about={"reasoning_history": HISTORY_ABOUT},
        controller=CONTROLLER,
        since=SINCE,
        since_applied=("reasoning_history",),
        stats=ExportStats(redacted={"reasoning_history": 2}),
    )


def sections() -> list[Section]:
    """Fresh sections over RECORDS."""
    return [Section(category=c, records=list(r)) for c, r in RECORDS.items()]


def write_zip(info: ExportInfo) -> tuple[dict[str, Any], str, str]:
    """Write a ZIP with the real PDF; return its manifest, README and the PDF's text."""
    sink = io.BytesIO()
    ZipWriter().write(info, sections(), sink)
    assert verify_archive(io.BytesIO(sink.getvalue())) == []
    with zipfile.ZipFile(io.BytesIO(sink.getvalue())) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        readme = zf.read("README.txt").decode("utf-8")
        pdf = zf.read("report.pdf")
    return manifest, readme, pdf_text(pdf)


def pdf_text(data: bytes) -> str:
    """All text of a PDF, pages joined."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_manifest_carries_art15_fields() -> None:
    """manifest.json has locale, controller, about, window and redacted_counts."""
    manifest, _, _ = write_zip(german_info())
    assert manifest["schema_version"] == 1
    assert manifest["locale"] == "de"
    assert manifest["controller"] == CONTROLLER
    assert manifest["about"] == {"reasoning_history": HISTORY_ABOUT}
    assert manifest["redacted_counts"] == {"reasoning_history": 2}
    assert manifest["window"] == {
        "since": "2025-05-01T00:00:00+00:00",
        "until": "2025-06-01T09:30:15+00:00",
        "categories_filtered": ["reasoning_history"],
        "categories_in_full": ["profile"],
    }


def test_manifest_leaves_absent_facts_out() -> None:
    """Without descriptions, controller or since: no controller, no window, empty about."""
    manifest, _, _ = write_zip(make_info())
    assert manifest["locale"] == "en"
    assert manifest["about"] == {}
    assert manifest["redacted_counts"] == {}
    assert "controller" not in manifest
    assert "window" not in manifest


def test_german_readme_has_labels_texts_and_controller() -> None:
    """The German README shows titles, counts, the set fields, the controller and rights."""
    _, readme, _ = write_zip(german_info())
    assert readme.startswith("Ihr Datenexport\r\n")
    assert "Profil und Einstellungen (profile): 1 Datensatz" in readme
    assert "Verlauf (reasoning_history): 3 Datensätze" in readme
    assert "Zu den einzelnen Kategorien:" in readme
    assert "Beschreibung: Ihre Fragen an den Assistenten und seine Antworten." in readme
    assert "Verarbeitungszwecke: Bereitstellung des Dienstes; Fehleranalyse" in readme
    assert "Rechtsgrundlage: Art. 6 Abs. 1 lit. b DSGVO" in readme
    assert "Speicherdauer: Zwölf Monate nach der letzten Nutzung." in readme
    assert "Verantwortlicher: Beispiel GmbH" in readme
    assert "Kontakt: datenschutz@beispiel.de" in readme
    assert "Aufsichtsbehörde: Landesbeauftragte für Datenschutz Berlin" in readme
    # No rights configured: the catalogue's default statement.
    assert "Ihre Rechte: Sie haben das Recht auf Berichtigung" in readme
    # Labels only for fields that are set.
    for absent in ("Empfänger", "Herkunft der Daten", "Automatisierte", "Datenschutzbeauftragte"):
        assert absent not in readme


def test_readme_window_and_redaction_sentences() -> None:
    """An incremental export states its window; redactions are counted in a sentence."""
    _, readme, _ = write_zip(german_info())
    flat = " ".join(readme.split())
    assert "Dieser Export enthält nur Änderungen seit 2025-05-01 00:00 UTC." in flat
    assert "weil ihre Quelle Änderungen nicht auswählen kann: Profil und Einstellungen." in flat
    assert "Zum Schutz anderer Personen wurden 2 Datensätze gekürzt oder anonymisiert." in flat


def test_english_is_the_default_and_absent_blocks_stay_absent() -> None:
    """Without locale the README is English; no descriptions or controller: no such blocks."""
    _, readme, pdf = write_zip(make_info())
    assert readme.startswith("Your data export\r\n")
    assert "Categories and number of records:" in readme
    assert "Reasoning history (reasoning_history): 3 records" in readme
    for absent in ("About each category", "Description:", "Controller", "Your rights", "since"):
        assert absent not in readme
    assert "shortened or anonymised" not in readme
    assert "About this data" not in pdf
    assert "Controller" not in pdf
    assert "Page 1 of" in pdf


def test_configured_rights_replace_the_default() -> None:
    """A controller's own rights text is shown instead of the catalogue's."""
    controller = ControllerInfo(name="Example Ltd", rights="Write to us to erase it.").to_dict()
    _, readme, pdf = write_zip(make_info(controller=controller))
    assert "Your rights: Write to us to erase it." in readme
    assert "You have the right to request" not in readme
    assert "Write to us to erase it." in pdf


def test_german_pdf_has_headings_and_descriptions() -> None:
    """The German PDF prints catalogue headings with umlauts, titles and the description."""
    sink = io.BytesIO()
    PdfWriter().write(german_info(), sections(), sink)
    text = pdf_text(sink.getvalue())
    flat = " ".join(text.split())
    for expected in (
        "Ihr Datenexport",
        "Seite 1 von",
        "Über diese Daten",
        "Profil und Einstellungen",
        "Verlauf",
        "Beschreibung",
        "Ihre Fragen an den Assistenten und seine Antworten.",
        "Verarbeitungszwecke",
        "Speicherdauer",
        "Zwölf Monate nach der letzten Nutzung.",
        "Verantwortlicher",
        "Aufsichtsbehörde",
        "Landesbeauftragte für Datenschutz Berlin",
        "3 Datensätze",
        "Dieser Export enthält nur Änderungen seit 2025-05-01 00:00 UTC.",
        "wurden 2 Datensätze gekürzt oder anonymisiert.",
    ):
        assert expected in flat, expected
    for absent in ("Empfänger", "Herkunft der Daten", "Page 1 of", "About this data"):
        assert absent not in flat


def test_pdf_about_block_only_for_described_categories() -> None:
    """Only a described category's chapter opens with the about block."""
    sink = io.BytesIO()
    PdfWriter().write(german_info(), sections(), sink)
    pages = [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(sink.getvalue())).pages]
    chapters = [p for p in pages if "Über diese Daten" in p]
    assert len(chapters) == 1
    assert "Frage 0" in chapters[0]


def test_source_description_flows_through_describe() -> None:
    """A data source's ``description`` attribute reaches the README via describe()."""

    class Source:
        description = CategoryDescription(title="Your chats", recipients=["Hosting provider"])

    info = make_info(about={"reasoning_history": describe(Source())})
    _, readme, pdf = write_zip(info)
    assert "Your chats (reasoning_history): 3 records" in readme
    assert "Recipients: Hosting provider" in readme
    assert "Your chats" in pdf
    assert "Hosting provider" in pdf


def test_csv_archive_readme_is_localised() -> None:
    """The multi-category CSV artifact's README follows the locale too."""
    sink = io.BytesIO()
    write_csv_archive(german_info(), sections(), sink)
    with zipfile.ZipFile(io.BytesIO(sink.getvalue())) as zf:
        readme = zf.read("README.txt").decode("utf-8")
        manifest = json.loads(zf.read("manifest.json"))
    assert "CSV-Dateien in einer Tabellenkalkulation öffnen" in readme
    assert "Beschreibung:" in readme
    assert manifest["about"] == {"reasoning_history": HISTORY_ABOUT}
