"""The knowledge-base editor's tools: an article's versions (read, compare, restore), its files
and images, and import and export of the whole knowledge base."""

from __future__ import annotations

import difflib
import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kefu.core.errors import ActionError
from kefu.core.http import HtmxRequest
from kefu.kb import actions
from kefu.kb.editor import Filters, access_article, agent_html, may_write, readable_articles
from kefu.kb.editor_forms import ImportUploadForm
from kefu.kb.models import ArticleAttachment
from kefu.staff.decorators import agent_required

INLINE_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
BLOCK_END = re.compile(r"(</(?:p|li|h[1-6]|div|tr|pre|blockquote)>|<br\s*/?>)", re.I)


# Versions ------------------------------------------------------------------------------------


def text_lines(html: str) -> list[str]:
    """The body as lines of text, one per paragraph, item or heading (what a diff compares)."""
    lines = []
    for chunk in BLOCK_END.sub(r"\1\n", html).split("\n"):
        text = actions.html_to_text(chunk)
        if text:
            lines.append(text)
    return lines


def diff(old: list[str], new: list[str]) -> list[tuple[str, str]]:
    """``(op, line)`` pairs: ``=`` unchanged, ``-`` only in the old, ``+`` only in the new."""
    rows: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [("=", line) for line in old[a1:a2]]
            continue
        rows += [("-", line) for line in old[a1:a2]]
        rows += [("+", line) for line in new[b1:b2]]
    return rows


@require_GET
@agent_required
def article_version(request: HtmxRequest, pk: int, number: int) -> HttpResponse:
    """One saved version: how it read, and what changed from it to the current text."""
    article = access_article(request.user, pk, write=True)
    version = get_object_or_404(
        article.versions.select_related("author__agent_profile"), number=number
    )
    title_changed = version.title != article.title
    context = {
        "article": article,
        "version": version,
        "body": agent_html(version.body_html),
        "title_changed": title_changed,
        "body_diff": diff(text_lines(version.body_html), text_lines(article.body_html)),
        "alternatives_diff": diff(
            version.alternatives.splitlines(), article.alternatives.splitlines()
        ),
        "same": not title_changed
        and version.body_html == article.body_html
        and version.alternatives == article.alternatives,
    }
    return render(request, "kb/editor/version.html", context)


@require_POST
@agent_required
def article_restore(request: HtmxRequest, pk: int, number: int) -> HttpResponse:
    article = access_article(request.user, pk, write=True)
    try:
        actions.restore_version(article, number, actor=request.user)
    except ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Version %(n)d restored as a new version.") % {"n": number})
    return redirect("kb:article_edit", pk=article.pk)


# Files and images ----------------------------------------------------------------------------

MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


def content_type_of(declared: str, head: bytes) -> str:
    """The type to store: a raster image only when its bytes say so (no HTML or SVG served
    as an image); anything else is kept as declared and always served as a download."""
    declared = (declared or "").split(";")[0].strip().lower()
    for kind, signatures in MAGIC.items():
        if head.startswith(signatures) and (kind != "image/webp" or head[8:12] == b"WEBP"):
            return kind
    if declared in INLINE_IMAGES or declared == "image/svg+xml" or "html" in declared:
        return "application/octet-stream"
    return declared or "application/octet-stream"


def _wants_json(request: HtmxRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@require_POST
@agent_required
def article_attach(request: HtmxRequest, pk: int) -> HttpResponse:
    """Upload a file or an image (the editor's image button asks for JSON back)."""
    from django.conf import settings

    article = access_article(request.user, pk, write=True)
    upload = request.FILES.get("file")
    error = ""
    attachment = None
    if upload is None:
        error = _("Choose a file to upload.")
    elif upload.size is not None and upload.size > settings.KEFU_MAX_ATTACHMENT_BYTES:
        error = _("%(name)s is too large: files are at most %(limit)s MB.") % {
            "name": upload.name,
            "limit": settings.KEFU_MAX_ATTACHMENT_BYTES // (1024 * 1024),
        }
    else:
        content = upload.read()
        try:
            attachment = actions.add_attachment(
                article,
                actor=request.user,
                filename=upload.name or "",
                content=content,
                content_type=content_type_of(upload.content_type or "", content[:16]),
            )
        except ActionError as exc:
            error = str(exc)
    if _wants_json(request):
        if attachment is None:
            return JsonResponse({"error": error}, status=400)
        return JsonResponse(
            {
                "url": reverse("kb:article_file", args=[article.pk, attachment.pk]),
                "filename": attachment.filename,
                "image": attachment.content_type in INLINE_IMAGES,
                "size": attachment.size,
            }
        )
    if attachment is None:
        messages.error(request, error)
    else:
        messages.success(request, _("Uploaded %(name)s.") % {"name": attachment.filename})
    return redirect("kb:article_edit", pk=article.pk)


@require_POST
@agent_required
def attachment_delete(request: HtmxRequest, pk: int, attachment_id: int) -> HttpResponse:
    article = access_article(request.user, pk, write=True)
    attachment = get_object_or_404(ArticleAttachment, pk=attachment_id, article=article)
    actions.remove_attachment(attachment, actor=request.user)
    messages.success(request, _("Removed %(name)s.") % {"name": attachment.filename})
    return redirect("kb:article_edit", pk=article.pk)


@require_GET
@agent_required
def article_file(request: HtmxRequest, pk: int, attachment_id: int) -> HttpResponseBase:
    """An article's file for agents (drafts and internal articles too): raster images inline,
    anything else as a download."""
    article = access_article(request.user, pk)
    item = get_object_or_404(ArticleAttachment, pk=attachment_id, article=article)
    inline = item.content_type in INLINE_IMAGES
    response = FileResponse(
        item.file.open("rb"),
        as_attachment=not inline,
        filename=item.filename,
        content_type=item.content_type if inline else "application/octet-stream",
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# Import and export ---------------------------------------------------------------------------

# The importer's row errors, in the reader's language (the importer itself speaks English, to
# the command line); a message not listed here is shown as it is.
IMPORT_MESSAGES = [
    (r"the file is larger than (?P<n>\d+) MB", gettext_lazy("the file is larger than %(n)s MB")),
    (r"use a \.csv or \.xlsx file", gettext_lazy("use a .csv or .xlsx file")),
    (r"the file is empty", gettext_lazy("the file is empty")),
    (r"missing column\(s\): (?P<columns>.+)", gettext_lazy("missing column(s): %(columns)s")),
    (r"at most (?P<n>\d+) rows per file", gettext_lazy("at most %(n)s rows per file")),
    (
        r"the CSV is neither UTF-8 nor GB18030 text",
        gettext_lazy("the CSV is neither UTF-8 nor GB18030 text"),
    ),
    (
        r"not a readable XLSX file \((?P<why>.*)\)",
        gettext_lazy("not a readable XLSX file (%(why)s)"),
    ),
    (r"the question is empty", gettext_lazy("the question is empty")),
    (
        r"the question is longer than 255 characters",
        gettext_lazy("the question is longer than 255 characters"),
    ),
    (r"the answer is empty", gettext_lazy("the answer is empty")),
    (r"the answer is too long", gettext_lazy("the answer is too long")),
    (r"unknown language (?P<value>.*)", gettext_lazy("unknown language %(value)s")),
    (
        r"the category name is longer than 120 characters",
        gettext_lazy("the category name is longer than 120 characters"),
    ),
    (r"the same question as row (?P<row>\d+)", gettext_lazy("the same question as row %(row)s")),
    (
        r"key (?P<key>.+) has two (?P<language>\S+) rows \(also row (?P<row>\d+)\)",
        gettext_lazy("key %(key)s has two %(language)s rows (also row %(row)s)"),
    ),
    (r"no rows to import", gettext_lazy("no rows to import")),
]


def import_message(message: str) -> str:
    for pattern, text in IMPORT_MESSAGES:
        found = re.fullmatch(pattern, message)
        if found:
            return str(text) % found.groupdict()
    return message


@require_http_methods(["GET", "POST"])
@agent_required
def kb_import(request: HtmxRequest) -> HttpResponse:
    """A CSV or XLSX file of FAQ entries, all rows or none (errors listed by row)."""
    from kefu.kb.importer import ImportRefused, import_faq

    if not may_write(request.user):
        raise PermissionDenied
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    errors: list[Any] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = import_faq(
                upload.name,
                upload.read(),
                actor=request.user,
                publish=form.cleaned_data["publish"],
                default_language=form.cleaned_data["language"],
            )
        except ImportRefused as exc:
            errors = [(e.row, import_message(e.message)) for e in exc.errors]
        else:
            messages.success(
                request,
                _("Imported: %(created)d new, %(updated)d updated, %(unchanged)d unchanged.")
                % {
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                },
            )
            return redirect("kb:articles")
    status = 400 if request.method == "POST" else 200
    return render(request, "kb/editor/import.html", {"form": form, "errors": errors}, status=status)


@require_GET
@agent_required
def kb_export(request: HtmxRequest) -> HttpResponse:
    """The articles the list shows (same filters but the search), as a CSV the import reads."""
    from kefu.kb.importer import export_csv

    if not may_write(request.user):
        raise PermissionDenied
    filters = Filters.parse(request.GET, writer=True)
    articles = filters.apply(readable_articles(request.user)).select_related("group__category")
    response = HttpResponse("\ufeff" + export_csv(articles), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="kefu-articles.csv"'
    return response
