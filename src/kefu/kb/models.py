"""The knowledge base: categories and sections, articles (and FAQ entries) in several languages,
their versions, and what readers do with them (feedback, searches)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Category(models.Model):
    """Top level of the help center (e.g. 订单与配送). Names per language in ``names``."""

    slug = models.SlugField(_("slug"), max_length=80, unique=True, allow_unicode=True)
    name = models.CharField(_("name"), max_length=120)
    names = models.JSONField(_("translated names"), default=dict, blank=True)  # {"en": "…"}
    description = models.CharField(_("description"), max_length=255, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    internal = models.BooleanField(_("agents only"), default=False)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name

    def name_in(self, language: str) -> str:
        return self.names.get(language) or self.name


class Section(models.Model):
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="sections")
    slug = models.SlugField(_("slug"), max_length=80, allow_unicode=True)
    name = models.CharField(_("name"), max_length=120)
    names = models.JSONField(_("translated names"), default=dict, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "name"]
        unique_together = [("category", "slug")]
        verbose_name = _("section")
        verbose_name_plural = _("sections")

    def __str__(self) -> str:
        return f"{self.category} › {self.name}"

    def name_in(self, language: str) -> str:
        return self.names.get(language) or self.name


class ArticleGroup(models.Model):
    """One piece of knowledge; its ``Article`` rows are the language versions of it."""

    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="groups"
    )
    section = models.ForeignKey(
        Section, null=True, blank=True, on_delete=models.SET_NULL, related_name="groups"
    )
    internal = models.BooleanField(_("agents only"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("article group")
        verbose_name_plural = _("article groups")

    def __str__(self) -> str:
        first = self.articles.first()
        return str(first) if first else f"group {self.pk}"


class Article(models.Model):
    class Kind(models.TextChoices):
        ARTICLE = "article", _("Article")
        FAQ = "faq", _("FAQ entry")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    group = models.ForeignKey(ArticleGroup, on_delete=models.CASCADE, related_name="articles")
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.ARTICLE)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    title = models.CharField(_("title"), max_length=255)  # the question, for FAQ entries
    slug = models.SlugField(_("slug"), max_length=120, allow_unicode=True)
    body_html = models.TextField(_("body"), blank=True)  # always sanitized before it is stored
    body_text = models.TextField(blank=True)  # plain text of the body, for search and snippets
    alternatives = models.TextField(
        _("other phrasings"), blank=True, help_text=_("Other ways people ask this; one per line.")
    )
    tags = models.ManyToManyField("core.Tag", verbose_name=_("tags"), blank=True, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    views = models.PositiveIntegerField(default=0)
    helpful_yes = models.PositiveIntegerField(default=0)
    helpful_no = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["group", "language"], name="one_article_per_language"),
            models.UniqueConstraint(fields=["language", "slug"], name="article_slug_per_language"),
        ]
        verbose_name = _("article")
        verbose_name_plural = _("articles")

    def __str__(self) -> str:
        return self.title

    @property
    def internal(self) -> bool:
        return self.group.internal

    @property
    def alternative_list(self) -> list[str]:
        return [line.strip() for line in self.alternatives.splitlines() if line.strip()]


class ArticleVersion(models.Model):
    """A saved state of an article (every save through the actions makes one)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=255)
    body_html = models.TextField(blank=True)
    alternatives = models.TextField(blank=True)
    status = models.CharField(max_length=10)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        unique_together = [("article", "number")]
        verbose_name = _("article version")
        verbose_name_plural = _("article versions")

    def __str__(self) -> str:
        return f"{self.article} v{self.number}"


class ArticleAttachment(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="kb/%Y/%m/", max_length=255)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("article attachment")
        verbose_name_plural = _("article attachments")

    def __str__(self) -> str:
        return self.filename


class Feedback(models.Model):
    """ "Was this helpful?" from a reader of the help center."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    helpful = models.BooleanField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("article feedback")
        verbose_name_plural = _("article feedback")

    def __str__(self) -> str:
        return f"{self.article}: {'+' if self.helpful else '-'}"


# Search ---------------------------------------------------------------------------------------


class SearchEntry(models.Model):
    """What the search index holds for an article: normalized, segmented text (tokens joined
    by spaces). SQLite indexes it with FTS5 (BM25), PostgreSQL with a GIN index over its
    tsvector; both are built in migrations by ``kb/search.py``'s owner.

    Entry 0 is the whole article. An FAQ entry with other phrasings also has one entry per
    phrasing (1: its question, then each other phrasing), so a query is matched against each
    way of asking on its own as well; an article ranks by its best entry."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="search_entries")
    phrasing = models.PositiveSmallIntegerField(default=0)
    language = models.CharField(max_length=10)
    public = models.BooleanField(default=True)  # published and not internal
    title_tokens = models.TextField(blank=True)
    body_tokens = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["article", "phrasing"], name="search_entry_per_phrasing"
            )
        ]
        verbose_name = _("search entry")
        verbose_name_plural = _("search entries")

    def __str__(self) -> str:
        return f"index of {self.article_id}"


class DictionaryWord(models.Model):
    """A word jieba must keep whole (product names, model numbers)."""

    word = models.CharField(_("word"), max_length=60, unique=True)
    frequency = models.PositiveIntegerField(_("frequency"), null=True, blank=True)

    class Meta:
        ordering = ["word"]
        verbose_name = _("dictionary word")
        verbose_name_plural = _("dictionary words")

    def __str__(self) -> str:
        return self.word


class Synonym(models.Model):
    """Words that mean the same to a customer: "退款 退货退款 refund" (one group per row)."""

    terms = models.CharField(
        _("terms"), max_length=500, help_text=_("Words that mean the same, separated by spaces.")
    )

    class Meta:
        verbose_name = _("synonym group")
        verbose_name_plural = _("synonym groups")

    def __str__(self) -> str:
        return self.terms

    @property
    def term_list(self) -> list[str]:
        return [t for t in self.terms.replace("，", " ").replace(",", " ").split() if t]


class SearchLog(models.Model):
    """One search, for deflection and gap reports: what was asked, what was found, what was
    opened."""

    class Source(models.TextChoices):
        HELP_CENTER = "help", _("Help center")
        WIDGET = "widget", _("Chat widget")
        AGENT = "agent", _("Agent suggestions")
        API = "api", _("API")
        EMAIL = "email", _("Acknowledgment email")

    query = models.CharField(max_length=200)
    normalized = models.CharField(max_length=400, blank=True)
    language = models.CharField(max_length=10, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    results = models.PositiveIntegerField(default=0)
    clicked = models.ForeignKey(
        Article, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("search")
        verbose_name_plural = _("searches")

    def __str__(self) -> str:
        return self.query
