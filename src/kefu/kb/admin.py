from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from kefu.core.errors import ActionError
from kefu.kb import actions as kb_actions
from kefu.kb.models import (
    Article,
    ArticleAttachment,
    ArticleGroup,
    ArticleVersion,
    Category,
    DictionaryWord,
    SearchLog,
    Section,
    Synonym,
)

# Search: dictionary words, synonyms and the search log -----------------------------------------
# (Saving or deleting a word or a synonym group reloads the lexicon in every process; a word
# also re-segments the published articles containing it: see kefu/kb/listeners.py.)


@admin.register(DictionaryWord)
class DictionaryWordAdmin(admin.ModelAdmin):
    list_display = ["word", "frequency"]
    search_fields = ["word"]


@admin.register(Synonym)
class SynonymAdmin(admin.ModelAdmin):
    list_display = ["terms"]
    search_fields = ["terms"]


@admin.register(SearchLog)
class SearchLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "query", "language", "source", "results", "clicked"]
    list_filter = ["source", "language"]
    search_fields = ["query", "normalized"]
    date_hierarchy = "created_at"
    list_select_related = ["clicked"]
    readonly_fields = [f.name for f in SearchLog._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# End of search ---------------------------------------------------------------------------------


# Articles: categories, sections, articles with versions, translations, import/export ----------
# (Every save goes through kefu.kb.actions, so versions are kept and the index follows.)


class SectionInline(admin.TabularInline):
    model = Section
    extra = 0
    fields = ["name", "slug", "names", "position"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position", "internal"]
    list_editable = ["position"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [SectionInline]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "internal" in form.changed_data:  # who may read its articles changed
            for group in obj.groups.all():
                kb_actions.place(group, actor=request.user, category=obj, section=group.section)


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "slug", "position"]
    list_filter = ["category"]
    prepopulated_fields = {"slug": ["name"]}


class VersionInline(admin.TabularInline):
    model = ArticleVersion
    extra = 0
    can_delete = False
    fields = ["number", "title", "status", "author", "created_at", "restore"]
    readonly_fields = ["number", "title", "status", "author", "created_at", "restore"]
    ordering = ["-number"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("restore"))
    def restore(self, version: ArticleVersion) -> str:
        url = reverse("admin:kb_article_restore", args=[version.article_id, version.number])
        return format_html('<a href="{}">{}</a>', url, _("Restore this version"))


class AttachmentInline(admin.TabularInline):
    model = ArticleAttachment
    extra = 0
    fields = ["file", "filename", "content_type", "size"]
    readonly_fields = ["filename", "content_type", "size"]


class ArticleAdminForm(forms.ModelForm):
    """The content of one language version, plus where the piece of knowledge lives."""

    translation_of = forms.ModelChoiceField(
        label=_("Translation of"),
        queryset=Article.objects.all(),
        required=False,
        help_text=_("Leave empty for a new article; choose one to add this language to it."),
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False
    )
    section = forms.ModelChoiceField(
        label=_("Section"), queryset=Section.objects.select_related("category"), required=False
    )
    internal = forms.BooleanField(label=_("Agents only"), required=False)
    tag_names = forms.CharField(label=_("Tags"), required=False, help_text=_("Comma separated."))

    class Meta:
        model = Article
        fields = ["title", "language", "kind", "status", "body_html", "alternatives", "slug"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        article = self.instance
        if article.pk:
            group = article.group
            self.fields.pop("translation_of")
            self.initial.update(
                category=group.category_id,
                section=group.section_id,
                internal=group.internal,
                tag_names=", ".join(article.tags.values_list("name", flat=True)),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        source = data.get("translation_of")
        language = data.get("language")
        if source is not None and source.group.articles.filter(language=language).exists():
            raise ValidationError(_("That article already has a version in this language."))
        section = data.get("section")
        if section is not None and data.get("category") not in (None, section.category):
            raise ValidationError(_("The section belongs to another category."))
        return data

    def validate_unique(self) -> None:
        pass  # the actions make the slug unique and check one version per language


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    form = ArticleAdminForm
    change_list_template = "admin/kb/article/change_list.html"
    list_display = [
        "title",
        "language",
        "kind",
        "status",
        "category",
        "internal_flag",
        "views",
        "helpful_yes",
        "helpful_no",
        "updated_at",
    ]
    list_filter = ["status", "language", "kind", "group__internal", "group__category"]
    search_fields = ["title", "alternatives", "body_text"]
    list_select_related = ["group__category"]
    readonly_fields = ["views", "helpful_yes", "helpful_no", "published_at", "public_link"]
    inlines = [AttachmentInline, VersionInline]
    actions = ["publish_selected", "archive_selected"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "translation_of",
                    "title",
                    "language",
                    "kind",
                    "status",
                    "body_html",
                    "alternatives",
                    "tag_names",
                ]
            },
        ),
        (_("Where"), {"fields": ["category", "section", "internal", "slug", "public_link"]}),
        (_("Readers"), {"fields": ["views", "helpful_yes", "helpful_no", "published_at"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets: list[Any] = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fields = [f for f in fieldsets[0][1]["fields"] if f != "translation_of"]
            fieldsets[0] = (None, {"fields": fields})
        return fieldsets

    @admin.display(description=_("category"))
    def category(self, article: Article) -> str:
        return str(article.group.category or "")

    @admin.display(description=_("agents only"), boolean=True)
    def internal_flag(self, article: Article) -> bool:
        return article.group.internal

    @admin.display(description=_("help center page"))
    def public_link(self, article: Article) -> str:
        if not article.pk:
            return ""
        url = reverse("kb:help_article", kwargs={"pk": article.pk, "slug": article.slug})
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        tags = [t for t in data.get("tag_names", "").replace("，", ",").split(",") if t.strip()]
        try:
            if not change:
                source = data.get("translation_of")
                if source is not None:
                    article = kb_actions.add_translation(
                        source,
                        actor=request.user,
                        language=data["language"],
                        title=data["title"],
                        body_html=data["body_html"],
                        alternatives=data["alternatives"],
                        status=data["status"],
                    )
                else:
                    article = kb_actions.create_article(
                        actor=request.user,
                        title=data["title"],
                        language=data["language"],
                        body_html=data["body_html"],
                        kind=data["kind"],
                        category=data.get("category"),
                        section=data.get("section"),
                        internal=data.get("internal", False),
                        alternatives=data["alternatives"],
                        tags=tags,
                        status=data["status"],
                    )
            else:
                article = kb_actions.update_article(
                    obj,
                    actor=request.user,
                    title=data["title"],
                    body_html=data["body_html"],
                    alternatives=data["alternatives"],
                    kind=data["kind"],
                    tags=tags,
                    slug=data.get("slug") or None,
                )
                article = kb_actions.set_status(article, data["status"], actor=request.user)
                group = article.group
                if (group.category, group.section, group.internal) != (
                    data.get("category"),
                    data.get("section"),
                    data.get("internal", False),
                ):
                    kb_actions.place(
                        group,
                        actor=request.user,
                        category=data.get("category"),
                        section=data.get("section"),
                        internal=data.get("internal", False),
                    )
        except ActionError as exc:
            messages.error(request, str(exc))
            if not change:
                raise
            return
        obj.pk = article.pk
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        for formset in formsets:  # attachments through the actions (size limit, event)
            if formset.model is not ArticleAttachment:
                formset.save()  # the read-only versions: nothing to save
                continue
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            for sub in formset.forms:
                if not sub.has_changed() and not formset._should_delete_form(sub):
                    continue
                if formset._should_delete_form(sub) and sub.instance.pk:
                    kb_actions.remove_attachment(sub.instance, actor=request.user)
                elif not sub.instance.pk and sub.cleaned_data.get("file"):
                    upload = sub.cleaned_data["file"]
                    try:
                        kb_actions.add_attachment(
                            form.instance,
                            actor=request.user,
                            filename=upload.name,
                            content=upload.read(),
                            content_type=upload.content_type or "",
                        )
                    except ActionError as exc:
                        messages.error(request, str(exc))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        kb_actions.delete_article(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for article in queryset:
            kb_actions.delete_article(article, actor=request.user)

    @admin.action(description=_("Publish the selected articles"))
    def publish_selected(self, request: HttpRequest, queryset: Any) -> None:
        for article in queryset:
            kb_actions.publish(article, actor=request.user)

    @admin.action(description=_("Archive the selected articles"))
    def archive_selected(self, request: HttpRequest, queryset: Any) -> None:
        for article in queryset:
            kb_actions.archive(article, actor=request.user)

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="kb_article_import"),
            path("export/", wrap(self.export_view), name="kb_article_export"),
            path(
                "<int:pk>/restore/<int:number>/",
                wrap(self.restore_view),
                name="kb_article_restore",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        from kefu.kb.forms import ImportForm
        from kefu.kb.importer import ImportRefused, import_faq

        if not self.has_add_permission(request):
            raise PermissionDenied
        errors: list[Any] = []
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = import_faq(
                    upload.name,
                    upload.read(),
                    actor=request.user,
                    publish=form.cleaned_data["publish"],
                )
            except ImportRefused as exc:
                errors = exc.errors
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
                return HttpResponseRedirect(reverse("admin:kb_article_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "errors": errors,
            "title": _("Import FAQ entries"),
        }
        return render(request, "admin/kb/article/import.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        from kefu.kb.importer import export_csv

        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponse(
            "\ufeff" + export_csv(), content_type="text/csv; charset=utf-8"
        )  # the BOM lets Excel read UTF-8
        response["Content-Disposition"] = 'attachment; filename="kefu-articles.csv"'
        return response

    def restore_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponse:
        article = get_object_or_404(Article, pk=pk)
        version = get_object_or_404(ArticleVersion, article=article, number=number)
        if not self.has_change_permission(request, article):
            raise PermissionDenied
        if request.method == "POST":
            kb_actions.restore_version(article, number, actor=request.user)
            messages.success(request, _("Version %(n)d restored as a new version.") % {"n": number})
            return HttpResponseRedirect(reverse("admin:kb_article_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "article": article,
            "version": version,
            "title": _("Restore a version"),
        }
        return render(request, "admin/kb/article/restore.html", context)


@admin.register(ArticleGroup)
class ArticleGroupAdmin(admin.ModelAdmin):
    list_display = ["__str__", "category", "section", "internal", "languages"]
    list_filter = ["internal", "category"]
    readonly_fields = ["created_at"]

    @admin.display(description=_("languages"))
    def languages(self, group: ArticleGroup) -> str:
        return ", ".join(a.language for a in group.articles.all())

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("articles")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        kb_actions.place(
            obj,
            actor=request.user,
            category=obj.category,
            section=obj.section,
            internal=obj.internal,
        )


# End of articles --------------------------------------------------------------------------------
