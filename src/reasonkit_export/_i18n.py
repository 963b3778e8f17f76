"""Message catalogues for the fixed texts of README.txt, the HTML view and the PDF.

English (``en``) and German (``de``) ship with the library; a host adds or
overrides catalogues with :func:`register_catalogue`. Lookups fall back from
the requested locale to its language (``de-AT`` → ``de``) and then to English,
key by key, so a partial catalogue is fine.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping

from reasonkit_export.exceptions import InvalidRequest

__all__ = ["DEFAULT_LOCALE", "Messages", "messages", "normalize_locale", "register_catalogue"]

DEFAULT_LOCALE = "en"

_EN: dict[str, str] = {
    "html.breadcrumbs": "You are here",
    "html.pages": "Pages",
    "html.open_page": "Open page {page}",
    "html.page_range": "Records {first}–{last}",
    "html.pagination": "Pages",
    "html.first": "« First",
    "html.previous": "‹ Previous",
    "html.next": "Next ›",
    "html.last": "Last »",
    "html.all_pages": "All pages",
    "html.showing": "Records {first}–{last} of {count} · page {page} of {pages}",
    "html.intro": (
        "This is a copy of the personal data we keep about you. Choose a category to read "
        "its records. These pages work offline: nothing is loaded from the internet."
    ),
    "html.timezone": "Times shown in",
    "html.file.readme": "Notes on this archive as plain text.",
    "html.category": "Category",
    "html.files": "Other files in this archive",
    "html.files_intro": "The same data in other forms, for programs and spreadsheets:",
    "readme.start_html": (
        "Start here: open index.html in a web browser to read your data. It works "
        "offline, from the unpacked folder."
    ),
    "readme.file.index_html": "Start here: your data as web pages, for any web browser.",
    "readme.file.html_dir": "The pages index.html links to, one folder per category.",
    "report.start_html": (
        "To browse your data, unpack the archive and open index.html in a web browser."
    ),
    "present.yes": "yes",
    "present.no": "no",
    "present.not_set": "not set",
    "present.empty": "none",
    "present.seconds": "{seconds} s",
    "present.binary.one": "binary data, {size} byte",
    "present.binary.other": "binary data, {size} bytes",
    "report.title": "Your data export",
    "report.user": "User",
    "report.generated": "Generated",
    "report.export_id": "Export",
    "report.categories": "Categories",
    "report.records": "Records",
    "report.page": "Page {page} of {pages}",
    "report.no_records": "No records in this category.",
    "report.record": "Record {number}",
    "report.about": "About this data",
    "report.controller": "Controller",
    "report.window": "Changes since {since}",
    "about.title": "Title",
    "about.description": "Description",
    "about.purposes": "Purposes of processing",
    "about.legal_basis": "Legal basis",
    "about.recipients": "Recipients",
    "about.retention": "Retention",
    "about.source": "Source of the data",
    "about.automated_decision_making": "Automated decision-making",
    "controller.name": "Controller",
    "controller.contact": "Contact",
    "controller.dpo_contact": "Data protection officer",
    "controller.supervisory_authority": "Supervisory authority",
    "controller.rights": "Your rights",
    "controller.default_rights": (
        "You have the right to request rectification or erasure of your personal data, "
        "restriction of or objection to its processing, and to lodge a complaint with a "
        "supervisory authority."
    ),
    "category.profile": "Profile and settings",
    "category.reasoning_history": "Reasoning history",
    "category.api_usage": "API usage",
    "category.billing": "Subscription and billing",
    "readme.title": "Your data export",
    "readme.intro": (
        "This archive holds a copy of the personal data we keep about you, "
        "generated on {generated} (export {export_id})."
    ),
    "readme.files": "What is in this archive:",
    "readme.data_json": "data.json - all your data in one JSON document, for programs.",
    "readme.csv": (
        "csv/ - one table per category; open them with a spreadsheet program "
        "(they are UTF-8 encoded)."
    ),
    "readme.pdf": "report.pdf - a readable report of the same data.",
    "readme.manifest": (
        "manifest.json - the list of files with their sizes and SHA-256 checksums, "
        "so you can check that nothing was changed."
    ),
    "readme.categories": "Categories and number of records:",
    "readme.about": "About each category:",
    "readme.window": "This export only contains changes since {since}.",
    "readme.redacted": ("To protect other people, {count} record(s) were shortened or anonymised."),
    "readme.questions": "Questions? Contact the controller:",
    "report.generator": "Generator",
    "report.contents": "Contents",
    "report.no_categories": "This export contains no categories.",
    "report.record_count.one": "{count} record",
    "report.record_count.other": "{count} records",
    "report.empty_record": "(empty record)",
    "report.unnamed": "(unnamed)",
    "report.notes": (
        "This report shows every record of your data export in readable form. Text is "
        "reproduced as stored; nested values are shown with dotted keys (for example "
        "address.city). Characters the report's font cannot display are shown as "
        "{replacement}. The same data is also available in machine-readable form (JSON, CSV)."
    ),
    "readme.file.data_json": "All of your data in one JSON document, by category.",
    "readme.file.csv": 'The records of category "{category}" as a table.',
    "readme.file.pdf": "A readable report of the same data.",
    "readme.file.pdf_summary": (
        "A readable summary: the first {count} records of each category (the export is"
        " too large for a complete report; every record is in index.html and data.json)."
    ),
    "readme.pdf_rule": (
        "report.pdf shows every record when the export has at most {limit} records;"
        " above that it is a summary with the first {count} records of each category,"
        " and index.html (the view for your browser) and data.json hold every record."
    ),
    "report.summary": (
        "This report is a summary of a large export: each category shows its first"
        " {count} records. Every record is in the archive's other files: index.html"
        " (open it in a browser), data.json and the CSV tables."
    ),
    "report.summary_more": (
        "{count} more records of this category are not shown in this summary;"
        " see index.html or data.json."
    ),
    "readme.file.readme": "This file.",
    "readme.file.manifest": "The list of files with their sizes and SHA-256 checksums.",
    "readme.file.part_json": 'The records of category "{category}" in this part, as JSON.',
    "readme.category_line": "{title} ({category}): {records}",
    "readme.controller": "Controller and your rights:",
    "readme.window_full": (
        "These categories are included in full, because their source cannot select "
        "changes: {categories}."
    ),
    "readme.csv_heading": "Opening the CSV files in a spreadsheet",
    "readme.csv_help": (
        "Each CSV file is one table: one row per record, one column per field. The files "
        "are UTF-8 text separated by commas. Most spreadsheet programs open them directly; "
        "if letters look wrong, import the file instead (Excel: Data > From Text/CSV, file "
        'origin "65001: Unicode (UTF-8)", delimiter "Comma"; LibreOffice: character set '
        '"Unicode (UTF-8)", separated by "Comma"). Nested fields have column names joined '
        "by dots (for example meta.model); lists are written as JSON text. An empty cell "
        'means "no value".'
    ),
    "readme.csv_apostrophe": (
        "Text that begins with = + - @ (also after spaces, and their full-width forms "
        "＝ ＋ － ＠) or with a tab or line break starts with an apostrophe (') so that "
        "spreadsheet programs do not run it as a formula. The apostrophe is not part of "
        "your data. Numbers are written as numbers, negative ones too."
    ),
    "readme.numbers_heading": "Very large whole numbers",
    "readme.numbers": (
        "Whole numbers are exact in the JSON files, however many digits they have. Some "
        "programs keep only about 16 digits (spreadsheets, JavaScript's JSON.parse, jq "
        "before version 1.7): numbers above 9007199254740991 or below -9007199254740991 "
        "may be rounded there, so read such numbers as text or with a program that "
        "handles big numbers (for example Python's json module)."
    ),
    "readme.numbers_csv": (
        "In the CSV tables such numbers are written as text, with an apostrophe in front, "
        "so that spreadsheets show every digit."
    ),
    "readme.checksums_heading": "Checking that nothing was changed",
    "readme.checksums": (
        "manifest.json lists every other file with its size in bytes and its SHA-256 "
        "checksum. To check a file, compute its checksum and compare:"
    ),
    "readme.part": "This archive is part {part} of {parts} of your data export.",
    "readme.part_combine": (
        "Your export was too large for one file, so it was split into {parts} archives "
        '("...-part-1-of-{parts}.zip" and so on). Each part can be opened on its own and '
        "holds complete records; no record is split between parts. To get all of your "
        "data, unpack all {parts} parts into the same folder: nothing is overwritten "
        "except this README.txt and manifest.json (each part has its own). The records "
        "of a category are then in data/<category>.part-1.json, "
        "data/<category>.part-2.json and so on, one file per part that holds some; "
        "reading them in part order gives the records in their original order. Each "
        "part's manifest.json lists its own files and how many records of each category "
        "it holds."
    ),
    "readme.part_combine_one": (
        "Your whole export is in this one archive; there are no other parts. The "
        "records of a category are in data/<category>.part-1.json."
    ),
    "readme.part_json_only": (
        "The parts hold your data as JSON (one document per category, one record per "
        "line), which any text editor or program can read. Tables (CSV) and the readable "
        "report (PDF) are only made for exports that fit into a single file."
    ),
    "readme.part_categories": "Categories and number of records in this part:",
}

_DE: dict[str, str] = {
    "html.breadcrumbs": "Sie sind hier",
    "html.pages": "Seiten",
    "html.open_page": "Seite {page} öffnen",
    "html.page_range": "Datensätze {first}–{last}",
    "html.pagination": "Seiten",
    "html.first": "« Erste",
    "html.previous": "‹ Zurück",
    "html.next": "Weiter ›",
    "html.last": "Letzte »",
    "html.all_pages": "Alle Seiten",
    "html.showing": "Datensätze {first}–{last} von {count} · Seite {page} von {pages}",
    "html.intro": (
        "Dies ist eine Kopie der personenbezogenen Daten, die wir über Sie speichern. "
        "Wählen Sie eine Kategorie, um ihre Datensätze zu lesen. Diese Seiten funktionieren "
        "offline: Nichts wird aus dem Internet geladen."
    ),
    "html.timezone": "Zeitangaben in",
    "html.file.readme": "Hinweise zu diesem Archiv als reiner Text.",
    "html.category": "Kategorie",
    "html.files": "Weitere Dateien in diesem Archiv",
    "html.files_intro": "Dieselben Daten in anderen Formen, für Programme und Tabellen:",
    "readme.start_html": (
        "Beginnen Sie hier: Öffnen Sie index.html in einem Webbrowser, um Ihre Daten zu "
        "lesen. Das funktioniert offline, im entpackten Ordner."
    ),
    "readme.file.index_html": "Beginnen Sie hier: Ihre Daten als Webseiten, für jeden Webbrowser.",
    "readme.file.html_dir": "Die Seiten, auf die index.html verweist, ein Ordner je Kategorie.",
    "report.start_html": (
        "Um Ihre Daten zu durchsuchen, entpacken Sie das Archiv und öffnen Sie index.html in "
        "einem Webbrowser."
    ),
    "present.yes": "ja",
    "present.no": "nein",
    "present.not_set": "nicht gesetzt",
    "present.empty": "keine",
    "present.seconds": "{seconds} s",
    "present.binary.one": "Binärdaten, {size} Byte",
    "present.binary.other": "Binärdaten, {size} Bytes",
    "report.title": "Ihr Datenexport",
    "report.user": "Nutzer",
    "report.generated": "Erstellt",
    "report.export_id": "Export",
    "report.categories": "Kategorien",
    "report.records": "Datensätze",
    "report.page": "Seite {page} von {pages}",
    "report.no_records": "Keine Datensätze in dieser Kategorie.",
    "report.record": "Datensatz {number}",
    "report.about": "Über diese Daten",
    "report.controller": "Verantwortlicher",
    "report.window": "Änderungen seit {since}",
    "about.title": "Titel",
    "about.description": "Beschreibung",
    "about.purposes": "Verarbeitungszwecke",
    "about.legal_basis": "Rechtsgrundlage",
    "about.recipients": "Empfänger",
    "about.retention": "Speicherdauer",
    "about.source": "Herkunft der Daten",
    "about.automated_decision_making": "Automatisierte Entscheidungsfindung",
    "controller.name": "Verantwortlicher",
    "controller.contact": "Kontakt",
    "controller.dpo_contact": "Datenschutzbeauftragte(r)",
    "controller.supervisory_authority": "Aufsichtsbehörde",
    "controller.rights": "Ihre Rechte",
    "controller.default_rights": (
        "Sie haben das Recht auf Berichtigung oder Löschung Ihrer personenbezogenen Daten, "
        "auf Einschränkung der Verarbeitung oder Widerspruch gegen sie sowie auf Beschwerde "
        "bei einer Aufsichtsbehörde."
    ),
    "category.profile": "Profil und Einstellungen",
    "category.reasoning_history": "Verlauf",
    "category.api_usage": "API-Nutzung",
    "category.billing": "Abonnement und Abrechnung",
    "readme.title": "Ihr Datenexport",
    "readme.intro": (
        "Dieses Archiv enthält eine Kopie der personenbezogenen Daten, die wir über Sie "
        "speichern, erstellt am {generated} (Export {export_id})."
    ),
    "readme.files": "Inhalt des Archivs:",
    "readme.data_json": "data.json - alle Ihre Daten in einem JSON-Dokument, für Programme.",
    "readme.csv": (
        "csv/ - eine Tabelle je Kategorie; öffnen Sie sie mit einer Tabellenkalkulation "
        "(UTF-8-kodiert)."
    ),
    "readme.pdf": "report.pdf - ein lesbarer Bericht mit denselben Daten.",
    "readme.manifest": (
        "manifest.json - die Liste der Dateien mit Größe und SHA-256-Prüfsumme, damit Sie "
        "prüfen können, dass nichts verändert wurde."
    ),
    "readme.categories": "Kategorien und Anzahl der Datensätze:",
    "readme.about": "Zu den einzelnen Kategorien:",
    "readme.window": "Dieser Export enthält nur Änderungen seit {since}.",
    "readme.redacted": (
        "Zum Schutz anderer Personen wurden {count} Datensätze gekürzt oder anonymisiert."
    ),
    "readme.questions": "Fragen? Wenden Sie sich an den Verantwortlichen:",
    "report.generator": "Erzeugt mit",
    "report.contents": "Inhalt",
    "report.no_categories": "Dieser Export enthält keine Kategorien.",
    "report.record_count.one": "{count} Datensatz",
    "report.record_count.other": "{count} Datensätze",
    "report.empty_record": "(leerer Datensatz)",
    "report.unnamed": "(ohne Namen)",
    "report.notes": (
        "Dieser Bericht zeigt jeden Datensatz Ihres Datenexports in lesbarer Form. Texte "
        "erscheinen so, wie sie gespeichert sind; verschachtelte Werte werden mit "
        "Punkt-Schlüsseln gezeigt (zum Beispiel address.city). Zeichen, die die Schrift "
        "des Berichts nicht darstellen kann, erscheinen als {replacement}. Dieselben Daten "
        "gibt es auch maschinenlesbar (JSON, CSV)."
    ),
    "readme.file.data_json": "Alle Ihre Daten in einem JSON-Dokument, nach Kategorien.",
    "readme.file.csv": 'Die Datensätze der Kategorie "{category}" als Tabelle.',
    "readme.file.pdf": "Ein lesbarer Bericht mit denselben Daten.",
    "readme.file.pdf_summary": (
        "Eine lesbare Zusammenfassung: die ersten {count} Datensätze jeder Kategorie (der"
        " Export ist für einen vollständigen Bericht zu groß; alle Datensätze stehen in"
        " index.html und data.json)."
    ),
    "readme.pdf_rule": (
        "report.pdf zeigt jeden Datensatz, wenn der Export höchstens {limit} Datensätze"
        " hat; darüber ist er eine Zusammenfassung mit den ersten {count} Datensätzen"
        " jeder Kategorie, und index.html (die Ansicht für Ihren Browser) und data.json"
        " enthalten alle Datensätze."
    ),
    "report.summary": (
        "Dieser Bericht ist die Zusammenfassung eines großen Exports: jede Kategorie zeigt"
        " ihre ersten {count} Datensätze. Alle Datensätze stehen in den anderen Dateien"
        " des Archivs: index.html (im Browser öffnen), data.json und die CSV-Tabellen."
    ),
    "report.summary_more": (
        "{count} weitere Datensätze dieser Kategorie zeigt diese Zusammenfassung nicht;"
        " siehe index.html oder data.json."
    ),
    "readme.file.readme": "Diese Datei.",
    "readme.file.manifest": "Die Liste der Dateien mit Größe und SHA-256-Prüfsumme.",
    "readme.file.part_json": 'Die Datensätze der Kategorie "{category}" in diesem Teil, als JSON.',
    "readme.category_line": "{title} ({category}): {records}",
    "readme.controller": "Verantwortlicher und Ihre Rechte:",
    "readme.window_full": (
        "Diese Kategorien sind vollständig enthalten, weil ihre Quelle Änderungen nicht "
        "auswählen kann: {categories}."
    ),
    "readme.csv_heading": "CSV-Dateien in einer Tabellenkalkulation öffnen",
    "readme.csv_help": (
        "Jede CSV-Datei ist eine Tabelle: eine Zeile je Datensatz, eine Spalte je Feld. Die "
        "Dateien sind UTF-8-Text, durch Kommas getrennt. Die meisten "
        "Tabellenkalkulationen öffnen sie direkt; sehen Buchstaben falsch aus, importieren "
        'Sie die Datei stattdessen (Excel: Daten > Aus Text/CSV, Dateiursprung "65001: '
        'Unicode (UTF-8)", Trennzeichen "Komma"; LibreOffice: Zeichensatz "Unicode '
        '(UTF-8)", getrennt durch "Komma"). Verschachtelte Felder haben durch Punkte '
        "verbundene Spaltennamen (zum Beispiel meta.model); Listen stehen als JSON-Text "
        'darin. Eine leere Zelle bedeutet "kein Wert".'
    ),
    "readme.csv_apostrophe": (
        "Text, der mit = + - @ (auch nach Leerzeichen, und in den breiten Formen "
        "＝ ＋ － ＠) oder einem Tabulator oder Zeilenumbruch beginnt, beginnt mit einem "
        "Apostroph ('), damit Tabellenkalkulationen ihn nicht als Formel ausführen. Der "
        "Apostroph gehört nicht zu Ihren Daten. Zahlen stehen als Zahlen da, auch negative."
    ),
    "readme.numbers_heading": "Sehr große ganze Zahlen",
    "readme.numbers": (
        "Ganze Zahlen stehen in den JSON-Dateien exakt, egal wie viele Stellen sie haben. "
        "Manche Programme behalten nur etwa 16 Stellen (Tabellenkalkulationen, JSON.parse "
        "in JavaScript, jq vor Version 1.7): Zahlen über 9007199254740991 oder unter "
        "-9007199254740991 können dort gerundet werden; lesen Sie solche Zahlen als Text "
        "oder mit einem Programm, das große Zahlen beherrscht (etwa Pythons json-Modul)."
    ),
    "readme.numbers_csv": (
        "In den CSV-Tabellen stehen solche Zahlen als Text, mit einem Apostroph davor, "
        "damit Tabellenkalkulationen alle Stellen zeigen."
    ),
    "readme.checksums_heading": "Prüfen, dass nichts verändert wurde",
    "readme.checksums": (
        "manifest.json nennt jede andere Datei mit ihrer Größe in Bytes und ihrer "
        "SHA-256-Prüfsumme. Um eine Datei zu prüfen, berechnen Sie ihre Prüfsumme und "
        "vergleichen Sie:"
    ),
    "readme.part": "Dieses Archiv ist Teil {part} von {parts} Ihres Datenexports.",
    "readme.part_combine": (
        "Ihr Export war für eine Datei zu groß und wurde deshalb auf {parts} Archive "
        'aufgeteilt ("...-part-1-of-{parts}.zip" usw.). Jeder Teil lässt sich für sich '
        "öffnen und enthält vollständige Datensätze; kein Datensatz ist auf zwei Teile "
        "verteilt. Um alle Ihre Daten zu erhalten, entpacken Sie alle {parts} Teile in "
        "denselben Ordner: Dabei wird nichts überschrieben außer dieser README.txt und der "
        "manifest.json (jeder Teil hat seine eigenen). Die Datensätze einer Kategorie "
        "stehen dann in data/<Kategorie>.part-1.json, data/<Kategorie>.part-2.json usw., "
        "eine Datei je Teil, der welche enthält; der Reihe nach gelesen ergeben sie die "
        "ursprüngliche Reihenfolge. Die manifest.json jedes Teils nennt seine Dateien und "
        "wie viele Datensätze jeder Kategorie er enthält."
    ),
    "readme.part_combine_one": (
        "Ihr ganzer Export steckt in diesem einen Archiv; weitere Teile gibt es nicht. "
        "Die Datensätze einer Kategorie stehen in data/<Kategorie>.part-1.json."
    ),
    "readme.part_json_only": (
        "Die Teile enthalten Ihre Daten als JSON (ein Dokument je Kategorie, ein "
        "Datensatz je Zeile), das jeder Texteditor und jedes Programm lesen kann. "
        "Tabellen (CSV) und den lesbaren Bericht (PDF) gibt es nur für Exporte, die in "
        "eine einzige Datei passen."
    ),
    "readme.part_categories": "Kategorien und Anzahl der Datensätze in diesem Teil:",
}

_CATALOGUES: dict[str, dict[str, str]] = {"en": _EN, "de": _DE}
_LOCK = threading.Lock()
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


def normalize_locale(locale: str | None) -> str:
    """Return a BCP 47-ish tag in canonical case (``de-AT``), or raise InvalidRequest."""
    if locale is None:
        return DEFAULT_LOCALE
    if not isinstance(locale, str) or not _LOCALE.fullmatch(locale):
        raise InvalidRequest(f"invalid locale {locale!r}; use a tag such as 'en' or 'de-AT'")
    language, *rest = locale.replace("_", "-").split("-")
    return "-".join([language.lower(), *(part.upper() for part in rest)])


def register_catalogue(locale: str, catalogue: Mapping[str, str]) -> None:
    """Add or extend the catalogue for ``locale`` (keys as in the English one)."""
    tag = normalize_locale(locale)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in catalogue.items()):
        raise InvalidRequest("a message catalogue maps strings to strings")
    with _LOCK:
        _CATALOGUES.setdefault(tag, {}).update(catalogue)


class Messages:
    """The texts for one locale, with fallback to its language and then English."""

    def __init__(self, locale: str) -> None:
        self.locale = normalize_locale(locale)
        language = self.locale.split("-")[0]
        with _LOCK:
            chain = [_CATALOGUES.get(self.locale), _CATALOGUES.get(language), _EN]
            self._chain = [dict(c) for c in chain if c is not None]

    def __call__(self, key: str, **values: object) -> str:
        """The text for ``key`` with ``{placeholders}`` filled in."""
        for catalogue in self._chain:
            if key in catalogue:
                text = catalogue[key]
                return text.format(**values) if values else text
        return key

    def category_title(self, category: str, about: Mapping[str, object] | None = None) -> str:
        """A category's human title: the source's own, the catalogue's, or its name."""
        if about and isinstance(about.get("title"), str):
            return str(about["title"])
        title = self(f"category.{category}")
        return category if title == f"category.{category}" else title


def messages(locale: str | None = None) -> Messages:
    """The catalogue for ``locale`` (default English)."""
    return Messages(locale or DEFAULT_LOCALE)
