"""Bring an existing FAQ spreadsheet in, in one step, and take the articles out again.

Import reads a CSV (UTF-8, or GB18030 as Chinese Excel saves it) or an XLSX file whose first
row names the columns: ``question``, ``answer``, ``alternatives`` (other phrasings, separated
by new lines or ``|``), ``category`` (name or slug; made when new), ``language`` (zh-hans,
zh-hant, en; empty means the default) and optionally ``key`` (rows with the same key are one
article in several languages). Chinese headers (问题, 答案, 其他问法, 分类, 语言) work too.

Every row is checked before anything is written; any error refuses the whole file and lists
the errors by row number (as the spreadsheet shows them: the header is row 1). A question
that already exists in that language is updated (a new version), so importing the same file
again changes nothing twice.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from kefu.core.errors import ActionError
from kefu.core.html import text_to_html
from kefu.kb import actions
from kefu.kb.models import Article, Category

COLUMNS = ("question", "answer", "alternatives", "category", "language", "key")
HEADER_ALIASES = {
    "问题": "question", "問題": "question", "title": "question", "标题": "question",
    "答案": "answer", "回答": "answer", "body": "answer",
    "其他问法": "alternatives", "其他問法": "alternatives", "相似问法": "alternatives",
    "分类": "category", "分類": "category",
    "语言": "language", "語言": "language", "lang": "language",
}  # fmt: skip
MAX_ROWS = 5000
MAX_BYTES = 10 * 1024 * 1024
HTML_TAG = re.compile(r"</?(p|br|ul|ol|li|strong|b|em|a|h[1-4]|div|table)\b", re.I)
LANGUAGE_ALIASES = {
    "zh-hans": "zh-hans", "zh-cn": "zh-hans", "zh_cn": "zh-hans", "简体": "zh-hans",
    "zh-hant": "zh-hant", "zh-tw": "zh-hant", "zh_tw": "zh-hant", "zh-hk": "zh-hant",
    "繁體": "zh-hant", "繁体": "zh-hant", "en": "en", "english": "en", "英文": "en",
}  # fmt: skip


@dataclass(frozen=True)
class RowError:
    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


class ImportRefused(ActionError):
    """The file was not imported; ``errors`` says why, row by row."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:20]))


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    categories: list[str] = field(default_factory=list)


@dataclass
class _Row:
    number: int
    question: str
    answer_html: str
    alternatives: list[str]
    category: str
    language: str
    key: str


def read_table(filename: str, content: bytes) -> list[dict[str, str]]:
    """Rows of the first sheet as dicts keyed by the (normalized) header names."""
    if len(content) > MAX_BYTES:
        raise ImportRefused([RowError(0, f"the file is larger than {MAX_BYTES // 1048576} MB")])
    if filename.lower().endswith((".xlsx", ".xlsm")):
        table = _xlsx(content)
    elif filename.lower().endswith((".csv", ".txt")):
        table = _csv(content)
    else:
        raise ImportRefused([RowError(0, "use a .csv or .xlsx file")])
    if not table:
        raise ImportRefused([RowError(1, "the file is empty")])
    header = [_header(h) for h in table[0]]
    missing = [c for c in ("question", "answer") if c not in header]
    if missing:
        raise ImportRefused([RowError(1, f"missing column(s): {', '.join(missing)}")])
    rows = []
    for cells in table[1 : MAX_ROWS + 2]:
        rows.append({h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header) if h})
    if len(table) - 1 > MAX_ROWS:
        raise ImportRefused([RowError(MAX_ROWS + 2, f"at most {MAX_ROWS} rows per file")])
    return rows


def _header(name: str) -> str:
    name = " ".join(str(name or "").split()).lower()
    name = HEADER_ALIASES.get(name, name)
    return name if name in COLUMNS else ""


def _csv(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportRefused([RowError(0, "the CSV is neither UTF-8 nor GB18030 text")])
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [row for row in csv.reader(io.StringIO(text), dialect)]


def _xlsx(content: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        name = exc.__class__.__name__
        raise ImportRefused([RowError(0, f"not a readable XLSX file ({name})")]) from exc
    try:
        sheet = book.worksheets[0]
        return [
            ["" if v is None else str(v) for v in row]
            for row in sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 2)
        ]
    finally:
        book.close()


def _answer_html(answer: str) -> str:
    return answer if HTML_TAG.search(answer) else text_to_html(answer)


def _split_alternatives(value: str) -> list[str]:
    parts = re.split(r"[\n|｜]", value or "")
    return [" ".join(p.split()) for p in parts if p.strip()]


def check_rows(rows: list[dict[str, str]], default_language: str) -> list[_Row]:
    """Validate every row; raise :class:`ImportRefused` listing all the errors."""
    errors: list[RowError] = []
    checked: list[_Row] = []
    seen: dict[tuple[str, str], int] = {}
    keys: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(rows):
        number = index + 2
        values = {k: str(v or "").replace("\x00", "").strip() for k, v in raw.items()}
        if not any(values.values()):
            continue  # blank lines in spreadsheets are common
        question = " ".join(values.get("question", "").split())
        answer = values.get("answer", "")
        raw_language = values.get("language", "").lower()
        language = LANGUAGE_ALIASES.get(raw_language, "") if raw_language else default_language
        problems = []
        if not question:
            problems.append("the question is empty")
        elif len(question) > 255:
            problems.append("the question is longer than 255 characters")
        if not answer:
            problems.append("the answer is empty")
        elif len(answer) > actions.MAX_BODY:
            problems.append("the answer is too long")
        if not language:
            problems.append(f"unknown language {values.get('language', '')!r}")
        if len(values.get("category", "")) > 120:
            problems.append("the category name is longer than 120 characters")
        if question and language:
            first = seen.setdefault((language, question), number)
            if first != number:
                problems.append(f"the same question as row {first}")
        key = values.get("key", "")
        if key and language:
            first = keys.setdefault((key, language), number)
            if first != number:
                problems.append(f"key {key!r} has two {language} rows (also row {first})")
        if problems:
            errors += [RowError(number, p) for p in problems]
            continue
        checked.append(
            _Row(
                number=number,
                question=question,
                answer_html=_answer_html(answer),
                alternatives=_split_alternatives(values.get("alternatives", "")),
                category=" ".join(values.get("category", "").split()),
                language=language,
                key=key,
            )
        )
    if errors:
        raise ImportRefused(errors)
    if not checked:
        raise ImportRefused([RowError(2, "no rows to import")])
    return checked


def _category(name: str, made: dict[str, Category], result: ImportResult) -> Category | None:
    if not name:
        return None
    if name in made:
        return made[name]
    found = (
        Category.objects.filter(name=name).first()
        or Category.objects.filter(slug=name).first()
        or next((c for c in Category.objects.all() if name in c.names.values()), None)
    )
    if found is None:
        slug = slugify(name, allow_unicode=True)[:70] or "category"
        base, n = slug, 2
        while Category.objects.filter(slug=slug).exists():
            slug, n = f"{base}-{n}", n + 1
        found = Category.objects.create(name=name, slug=slug)
        result.categories.append(name)
    made[name] = found
    return found


def import_faq(
    filename: str,
    content: bytes,
    *,
    actor: Any,
    publish: bool = True,
    default_language: str = "zh-hans",
) -> ImportResult:
    """Import the file as FAQ entries, all rows or none."""
    rows = check_rows(read_table(filename, content), default_language)
    result = ImportResult()
    status = Article.Status.PUBLISHED if publish else Article.Status.DRAFT
    made: dict[str, Category] = {}
    groups: dict[str, Article] = {}
    try:
        with transaction.atomic():
            for row in rows:
                _import_row(
                    row, actor=actor, status=status, made=made, groups=groups, result=result
                )
    except ActionError as exc:
        if isinstance(exc, ImportRefused):
            raise
        raise ImportRefused([RowError(row.number, str(exc))]) from exc
    return result


def _import_row(
    row: _Row,
    *,
    actor: Any,
    status: str,
    made: dict[str, Category],
    groups: dict[str, Article],
    result: ImportResult,
) -> None:
    category = _category(row.category, made, result)
    existing = (
        Article.objects.filter(language=row.language, title=row.question)
        .select_related("group")
        .first()
    )
    if existing is not None:
        before = existing.versions.count()
        article = actions.update_article(
            existing, actor=actor, body_html=row.answer_html, alternatives=row.alternatives
        )
        if category is not None and article.group.category_id != category.pk:
            actions.place(article.group, actor=actor, category=category)
        if status == Article.Status.PUBLISHED:
            actions.publish(article, actor=actor)
        changed = article.versions.count() != before
        result.updated += changed
        result.unchanged += not changed
    elif row.key and row.key in groups:
        article = actions.add_translation(
            groups[row.key],
            actor=actor,
            language=row.language,
            title=row.question,
            body_html=row.answer_html,
            alternatives=row.alternatives,
            status=status,
        )
        result.created += 1
    else:
        article = actions.create_article(
            actor=actor,
            title=row.question,
            language=row.language,
            body_html=row.answer_html,
            kind=Article.Kind.FAQ,
            category=category,
            alternatives=row.alternatives,
            status=status,
        )
        result.created += 1
    if row.key:
        groups.setdefault(row.key, article)


def export_csv(articles: Any = None) -> str:
    """Articles as a CSV the importer reads back (``key`` links the languages of one article;
    the answer is the stored, sanitized HTML)."""
    qs = Article.objects.select_related("group__category") if articles is None else articles
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*COLUMNS, "status", "kind", "internal"])
    for a in qs.order_by("group_id", "language"):
        category = a.group.category
        writer.writerow(
            [
                a.title,
                a.body_html,
                " | ".join(a.alternative_list),
                category.name if category else "",
                a.language,
                f"g{a.group_id}",
                a.status,
                a.kind,
                "yes" if a.group.internal else "",
            ]
        )
    return out.getvalue()
