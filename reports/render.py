"""The morning report as HTML (a Jinja template of this package, the e-mail's and the console's), as plain text
(the e-mail's alternative) and as a PDF (fpdf2, attached to the e-mail)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from reports.content import MorningReport

TEMPLATES = Path(__file__).resolve().parent / "templates"
_jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                     trim_blocks=False, keep_trailing_newline=True)

# fpdf2's built-in fonts (Helvetica) hold Latin-1 only: a few common characters beyond it are spelled out, the
# rest become "?" (the HTML and the text carry every character; no font file has to ship with Careline).
_PLAIN = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...",
                        "\u00a0": " ", "•": "-", "≤": "<=", "≥": ">="})


def report_html(report: MorningReport) -> Markup:
    """The report's body as HTML (an <article>), for the console's page."""
    return Markup(_jinja.get_template("report.html").render(report=report))


def email_html(report: MorningReport, console_url: str | None = None) -> str:
    """The whole HTML document of the e-mail."""
    return _jinja.get_template("email.html").render(report=report, console_url=console_url)


def email_text(report: MorningReport) -> str:
    """The report as plain text: the e-mail's alternative for readers that show no HTML."""
    return _jinja.get_template("report.txt").render(report=report)


def report_pdf(report: MorningReport, made_at: datetime) -> bytes:
    """The report as a PDF (Letter, Helvetica); `made_at` (Careline's clock) is its creation date."""
    pdf = FPDF(format="Letter", unit="mm")
    pdf.set_creation_date(made_at)
    pdf.set_title(_latin1(report.subject))
    pdf.set_author("Careline")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, _latin1(f"{report.name}: morning report"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 5, _latin1(f"Calls and routine messages of {report.day_label} ({report.timezone}). "
                                 f"Made {report.made_at}."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    _heading(pdf, "The day's calls")
    with pdf.table(col_widths=(110, 40), width=150, align="LEFT", text_align=("LEFT", "RIGHT"),
                   first_row_as_headings=False, line_height=6) as table:
        for label, value in report.summary:
            row = table.row()
            row.cell(_latin1(label))
            row.cell(_latin1(value))
    pdf.ln(5)
    _heading(pdf, f"Routine messages ({len(report.messages)})")
    pdf.set_font("Helvetica", "", 10)
    if report.urgent_messages:
        pdf.multi_cell(0, 5, _latin1(f"{report.urgent_messages} urgent message(s) of that day not listed: urgent "
                                     f"messages page the on-call provider and are called back at once."),
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    if not report.messages:
        pdf.multi_cell(0, 5, "No routine message was left that day.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return bytes(pdf.output())
    with pdf.table(col_widths=(42, 30, 20, 104), text_align="LEFT", line_height=5) as table:
        heading = table.row()
        for title in ("Received", "Caller", "Length", "Message"):
            heading.cell(title)
        for message in report.messages:
            row = table.row()
            row.cell(_latin1(message.received))
            row.cell(_latin1(message.caller))
            row.cell(_latin1(message.duration))
            row.cell(_latin1(_message_text(message)))
    return bytes(pdf.output())


def _message_text(message) -> str:
    if message.fields:
        lines = [f"{label}: {value}" for label, value in message.fields]
        if message.taken_by:
            lines.append(f"Taken by {message.taken_by}")
        return "\n".join(lines)
    if message.transcription:
        return message.transcription
    return f"({message.note}: listen to the recording in Careline)"


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 7, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)


def _latin1(text: str) -> str:
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")
