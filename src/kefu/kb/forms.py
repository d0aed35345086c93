"""Forms of the knowledge base: the help center's contact form, the admin's import upload and
the agents' article editor."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from kefu.kb.models import Article, Category, Section


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=100, required=False)
    email = forms.EmailField(label=_("Email"), max_length=254)
    subject = forms.CharField(label=_("Subject"), max_length=200, required=False)
    message = forms.CharField(label=_("How can we help?"), max_length=10_000, widget=forms.Textarea)
    # The honeypot: hidden from people by CSS; robots fill in every field.
    website = forms.CharField(label=_("Leave this empty"), required=False)

    def clean_message(self) -> str:
        message = str(self.cleaned_data["message"]).replace("\x00", "").strip()
        if not message:
            raise forms.ValidationError(_("Please write your question."))
        return message


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_("Columns: question, answer, alternatives, category, language."),
    )
    publish = forms.BooleanField(label=_("Publish at once"), required=False, initial=True)


class ArticleForm(forms.Form):
    """What an agent edits on the article page (content of one language version)."""

    title = forms.CharField(label=_("Title"), max_length=255)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    kind = forms.ChoiceField(label=_("Kind"), choices=Article.Kind.choices)
    body_html = forms.CharField(
        label=_("Body (HTML)"), required=False, widget=forms.Textarea(attrs={"rows": 14})
    )
    alternatives = forms.CharField(
        label=_("Other phrasings (one per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False
    )
    section = forms.ModelChoiceField(
        label=_("Section"), queryset=Section.objects.select_related("category"), required=False
    )
    internal = forms.BooleanField(label=_("Agents only"), required=False)
    status = forms.ChoiceField(label=_("Status"), choices=Article.Status.choices)
