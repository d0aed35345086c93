"""The only door that changes the knowledge base: articles, their versions, translations,
status, attachments and what readers do with them.

Each writing action runs in one transaction (the article row locked), saves an
``ArticleVersion`` for every change of an article (author and number) and emits
``ArticleChanged`` after commit, so the search index and caches follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import slugify

from kefu.core.errors import ActionError
from kefu.core.events import ArticleChanged, emit
from kefu.core.html import sanitize
from kefu.core.models import Tag
from kefu.kb.models import (
    Article,
    ArticleAttachment,
    ArticleGroup,
    ArticleVersion,
    Category,
    Feedback,
    Section,
)

LANGUAGES = [code for code, _name in settings.LANGUAGES]
MAX_BODY = 500_000
MAX_COMMENT = 2000
Status = Article.Status


def _actor(actor: Any) -> Any:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _actor_id(actor: Any) -> int | None:
    user = _actor(actor)
    return user.pk if user is not None else None


def _locked(article: Article) -> Article:
    """Re-read the article under a row lock (call inside ``transaction.atomic``)."""
    return Article.objects.select_for_update().select_related("group").get(pk=article.pk)


def html_to_text(html: str) -> str:
    """Plain text of sanitized HTML, for search and snippets (block ends become spaces)."""
    spaced = html
    for tag in ("</p>", "</li>", "</h1>", "</h2>", "</h3>", "</h4>", "<br>", "</div>", "</tr>"):
        spaced = spaced.replace(tag, tag + " ")
    from html import unescape

    return " ".join(unescape(strip_tags(spaced)).split())


def _clean_title(title: str) -> str:
    title = " ".join((title or "").replace("\x00", "").split())
    if not title:
        raise ActionError("an article needs a title")
    if len(title) > 255:
        raise ActionError("a title is at most 255 characters")
    return title


def _clean_body(body_html: str) -> tuple[str, str]:
    body_html = (body_html or "").replace("\x00", "")
    if len(body_html) > MAX_BODY:
        raise ActionError(f"an article is at most {MAX_BODY} characters")
    html = sanitize(body_html).strip() if body_html.strip() else ""
    return html, html_to_text(html)


def _clean_alternatives(alternatives: str | Iterable[str]) -> str:
    lines = alternatives.splitlines() if isinstance(alternatives, str) else list(alternatives)
    seen: list[str] = []
    for line in lines:
        line = " ".join(line.replace("\x00", "").split())[:255]
        if line and line not in seen:
            seen.append(line)
    return "\n".join(seen)


def _check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ActionError(f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}")
    return language


def unique_slug(title: str, language: str, exclude_pk: int = 0) -> str:
    """``slugify(title)`` (Chinese kept), made unique among articles of ``language``."""
    base = slugify(title, allow_unicode=True)[:100].strip("-") or "article"
    taken = set(
        Article.objects.filter(language=language, slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _save_version(article: Article, actor: Any) -> ArticleVersion:
    last = article.versions.aggregate(n=Max("number"))["n"] or 0
    return ArticleVersion.objects.create(
        article=article,
        number=last + 1,
        title=article.title,
        body_html=article.body_html,
        alternatives=article.alternatives,
        status=article.status,
        author=_actor(actor),
    )


def _changed(article: Article, actor: Any, status: str | None = None) -> None:
    emit(
        ArticleChanged(
            actor_id=_actor_id(actor), article_id=article.pk, status=status or article.status
        )
    )


def _set_tags(article: Article, tags: Iterable[str]) -> None:
    names = {" ".join(t.split()).lower() for t in tags if t.strip()}
    if any(len(n) > 64 for n in names):
        raise ActionError("a tag is 1–64 characters")
    article.tags.set([Tag.objects.get_or_create(name=n)[0] for n in sorted(names)])


def _placement(
    category: Category | None, section: Section | None
) -> tuple[Category | None, Section | None]:
    if section is not None:
        if category is not None and section.category_id != category.pk:
            raise ActionError("the section belongs to another category")
        category = section.category
    return category, section


def _apply_status(article: Article, status: str) -> None:
    if status not in Status.values:
        raise ActionError(f"unknown status {status!r}")
    article.status = status
    if status == Status.PUBLISHED and article.published_at is None:
        article.published_at = timezone.now()


def create_article(
    *,
    actor: Any,
    title: str,
    language: str,
    body_html: str = "",
    kind: str = Article.Kind.ARTICLE,
    category: Category | None = None,
    section: Section | None = None,
    internal: bool = False,
    alternatives: str | Iterable[str] = "",
    tags: Iterable[str] = (),
    status: str = Status.DRAFT,
) -> Article:
    """A new piece of knowledge (its own group) in one language; version 1."""
    category, section = _placement(category, section)
    with transaction.atomic():
        group = ArticleGroup.objects.create(category=category, section=section, internal=internal)
        article = _new_article(
            group,
            actor=actor,
            title=title,
            language=language,
            body_html=body_html,
            kind=kind,
            alternatives=alternatives,
            tags=tags,
            status=status,
        )
    return article


def _new_article(
    group: ArticleGroup,
    *,
    actor: Any,
    title: str,
    language: str,
    body_html: str,
    kind: str,
    alternatives: str | Iterable[str],
    tags: Iterable[str],
    status: str,
) -> Article:
    _check_language(language)
    if kind not in Article.Kind.values:
        raise ActionError(f"unknown kind {kind!r}")
    title = _clean_title(title)
    html, text = _clean_body(body_html)
    article = Article(
        group=group,
        language=language,
        kind=kind,
        title=title,
        slug=unique_slug(title, language),
        body_html=html,
        body_text=text,
        alternatives=_clean_alternatives(alternatives),
        author=_actor(actor),
    )
    _apply_status(article, status)
    article.save()
    if tags:
        _set_tags(article, tags)
    _save_version(article, actor)
    _changed(article, actor)
    return article


def add_translation(
    article: Article,
    *,
    actor: Any,
    language: str,
    title: str,
    body_html: str = "",
    alternatives: str | Iterable[str] = "",
    status: str = Status.DRAFT,
) -> Article:
    """The same piece of knowledge in another language (same group, its own status)."""
    _check_language(language)
    with transaction.atomic():
        group = ArticleGroup.objects.select_for_update().get(pk=article.group_id)
        if group.articles.filter(language=language).exists():
            raise ActionError(f"this article already has a {language} version")
        return _new_article(
            group,
            actor=actor,
            title=title,
            language=language,
            body_html=body_html,
            kind=article.kind,
            alternatives=alternatives,
            tags=list(article.tags.values_list("name", flat=True)),
            status=status,
        )


def update_article(
    article: Article,
    *,
    actor: Any,
    title: str | None = None,
    body_html: str | None = None,
    alternatives: str | Iterable[str] | None = None,
    kind: str | None = None,
    tags: Iterable[str] | None = None,
    slug: str | None = None,
) -> Article:
    """Change the content of one language version; a new version when anything changed."""
    with transaction.atomic():
        article = _locked(article)
        fields = ("title", "body_html", "alternatives", "kind", "slug")
        before = [getattr(article, f) for f in fields]
        if title is not None:
            article.title = _clean_title(title)
        if body_html is not None:
            article.body_html, article.body_text = _clean_body(body_html)
        if alternatives is not None:
            article.alternatives = _clean_alternatives(alternatives)
        if kind is not None:
            if kind not in Article.Kind.values:
                raise ActionError(f"unknown kind {kind!r}")
            article.kind = kind
        if slug is not None and slug != article.slug:
            wanted = slugify(slug, allow_unicode=True)[:100] or article.slug
            if (
                Article.objects.filter(language=article.language, slug=wanted)
                .exclude(pk=article.pk)
                .exists()
            ):
                raise ActionError(f"another {article.language} article has the slug {wanted!r}")
            article.slug = wanted
        tags_changed = False
        if tags is not None:
            old = set(article.tags.values_list("name", flat=True))
            _set_tags(article, tags)
            tags_changed = old != set(article.tags.values_list("name", flat=True))
        if before == [getattr(article, f) for f in fields] and not tags_changed:
            return article
        article.save()
        _save_version(article, actor)
        _changed(article, actor)
    return article


def set_status(article: Article, status: str, *, actor: Any) -> Article:
    """Draft, published or archived: for this language version only."""
    with transaction.atomic():
        article = _locked(article)
        if article.status == status:
            return article
        _apply_status(article, status)
        article.save(update_fields=["status", "published_at", "updated_at"])
        _save_version(article, actor)
        _changed(article, actor)
    return article


def publish(article: Article, *, actor: Any) -> Article:
    return set_status(article, Status.PUBLISHED, actor=actor)


def archive(article: Article, *, actor: Any) -> Article:
    return set_status(article, Status.ARCHIVED, actor=actor)


def restore_version(article: Article, number: int, *, actor: Any) -> Article:
    """Bring back the title, body and phrasings of version ``number`` (as a new version; the
    status stays as it is)."""
    try:
        version = article.versions.get(number=number)
    except ArticleVersion.DoesNotExist:
        raise ActionError(f"this article has no version {number}") from None
    return update_article(
        article,
        actor=actor,
        title=version.title,
        body_html=version.body_html,
        alternatives=version.alternatives,
    )


def place(
    group: ArticleGroup,
    *,
    actor: Any,
    category: Category | None,
    section: Section | None = None,
    internal: bool | None = None,
) -> ArticleGroup:
    """Move a piece of knowledge (all its languages) and set who may read it."""
    category, section = _placement(category, section)
    with transaction.atomic():
        group = ArticleGroup.objects.select_for_update().get(pk=group.pk)
        group.category, group.section = category, section
        if internal is not None:
            group.internal = internal
        group.save(update_fields=["category", "section", "internal"])
        for article in group.articles.all():
            _changed(article, actor)
    return group


def delete_article(article: Article, *, actor: Any) -> None:
    """Delete one language version; the group goes with its last article."""
    with transaction.atomic():
        article = _locked(article)
        group, pk = article.group, article.pk
        for attachment in article.attachments.all():
            attachment.file.delete(save=False)
        article.delete()
        if not group.articles.exists():
            group.delete()
        emit(ArticleChanged(actor_id=_actor_id(actor), article_id=pk, status="deleted"))


def add_attachment(
    article: Article, *, actor: Any, filename: str, content: bytes, content_type: str = ""
) -> ArticleAttachment:
    """A file or image for an article (size-limited; served as a download unless an image)."""
    limit = settings.KEFU_MAX_ATTACHMENT_BYTES
    if len(content) > limit:
        raise ActionError(f"{filename!r} is {len(content)} bytes; the limit is {limit}")
    name = (filename or "attachment").replace("/", "_").replace("\\", "_").strip()[:200]
    with transaction.atomic():
        article = _locked(article)
        attachment = ArticleAttachment(
            article=article,
            filename=name or "attachment",
            content_type=(content_type or "application/octet-stream")[:127],
            size=len(content),
        )
        attachment.file.save(attachment.filename, ContentFile(content), save=False)
        attachment.save()
        article.save(update_fields=["updated_at"])
        _changed(article, actor)
    return attachment


def remove_attachment(attachment: ArticleAttachment, *, actor: Any) -> None:
    with transaction.atomic():
        article = _locked(attachment.article)
        attachment.file.delete(save=False)
        attachment.delete()
        article.save(update_fields=["updated_at"])
        _changed(article, actor)


# What readers do ------------------------------------------------------------------------------


def record_view(article: Article) -> None:
    """Count one read (a single UPDATE; no lock, no version, no event)."""
    Article.objects.filter(pk=article.pk).update(views=F("views") + 1)


def give_feedback(article: Article, *, helpful: bool, comment: str = "") -> Feedback:
    """ "Was this helpful?": one row plus the article's counter."""
    comment = (comment or "").replace("\x00", "").strip()[:MAX_COMMENT]
    with transaction.atomic():
        feedback = Feedback.objects.create(article=article, helpful=helpful, comment=comment)
        counter = "helpful_yes" if helpful else "helpful_no"
        Article.objects.filter(pk=article.pk).update(**{counter: F(counter) + 1})
    return feedback


def comment_feedback(feedback: Feedback, comment: str) -> Feedback:
    """Add the optional comment to a vote already given."""
    feedback.comment = (comment or "").replace("\x00", "").strip()[:MAX_COMMENT]
    feedback.save(update_fields=["comment"])
    return feedback
