"""Forms of the agents' knowledge-base workspace: they only parse and type what was posted;
``kefu.kb.actions`` checks and sanitizes (titles, bodies, tags, placement)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from kefu.kb.models import Article, Category, Section

LANGUAGE_NAMES = {"zh-hans": "简体中文", "zh-hant": "繁體中文", "en": "English"}


def language_choices() -> list[tuple[str, str]]:
    return [(code, LANGUAGE_NAMES.get(code, str(name))) for code, name in settings.LANGUAGES]


def place_choices() -> list[tuple[str, Any]]:
    """Where an article lives, as one select: a category as a whole, or one of its sections
    (values ``c<id>`` and ``s<id>``), grouped by category."""
    choices: list[tuple[str, Any]] = [("", _("— Not in a category —"))]
    sections: dict[int, list[Section]] = {}
    for section in Section.objects.all():
        sections.setdefault(section.category_id, []).append(section)
    whole, internal = _("whole category"), _("agents only")
    for category in Category.objects.all():
        label = f"{category.name} ({internal})" if category.internal else category.name
        options = [(f"c{category.pk}", f"{category.name} · {whole}")]
        options += [
            (f"s{s.pk}", f"{category.name} › {s.name}") for s in sections.get(category.pk, [])
        ]
        choices.append((label, options))
    return choices


def place_value(category_id: int | None, section_id: int | None) -> str:
    if section_id:
        return f"s{section_id}"
    return f"c{category_id}" if category_id else ""


def parse_place(value: str) -> tuple[Category | None, Section | None]:
    """The category and section a ``place`` value names (both None when empty)."""
    if value.startswith("s") and value[1:].isdigit():
        section = Section.objects.select_related("category").get(pk=int(value[1:]))
        return section.category, section
    if value.startswith("c") and value[1:].isdigit():
        return Category.objects.get(pk=int(value[1:])), None
    return None, None


def split_tags(value: str) -> list[str]:
    return [t.strip() for t in value.replace("，", ",").replace("、", ",").split(",") if t.strip()]


class ContentForm(forms.Form):
    """Title, body and other phrasings: what every language version has of its own."""

    title = forms.CharField(label=_("Title"), max_length=255)
    body_html = forms.CharField(
        label=_("Body"), required=False, widget=forms.Textarea(attrs={"rows": 18})
    )
    alternatives = forms.CharField(
        label=_("Other phrasings"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Other ways customers ask this question, one per line."),
    )


class ArticleForm(ContentForm):
    """The whole editor: content, plus what all languages of the article share."""

    kind = forms.ChoiceField(label=_("Kind"), choices=Article.Kind.choices)
    place = forms.ChoiceField(label=_("Category and section"), required=False)
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=1000, help_text=_("Separated by commas.")
    )
    internal = forms.BooleanField(
        label=_("Internal: agents only"),
        required=False,
        help_text=_("Never shown in the help center or to customers (all languages)."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=language_choices)
    base_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, new: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        place = self.fields["place"]
        assert isinstance(place, forms.ChoiceField)
        place.choices = place_choices()
        if not new:
            del self.fields["language"]

    def clean_place(self) -> tuple[Category | None, Section | None]:
        try:
            return parse_place(self.cleaned_data.get("place") or "")
        except (Category.DoesNotExist, Section.DoesNotExist):
            raise forms.ValidationError(_("That category or section no longer exists.")) from None

    def clean_tags(self) -> list[str]:
        return split_tags(self.cleaned_data.get("tags") or "")


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_(
            "Columns: question, answer, alternatives, category, language, key "
            "(rows with the same key are one article in several languages)."
        ),
    )
    language = forms.ChoiceField(
        label=_("Language of rows without one"), choices=language_choices, initial="zh-hans"
    )
    publish = forms.BooleanField(label=_("Publish at once"), required=False, initial=False)
