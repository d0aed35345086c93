"""Forms of the knowledge base: the help center's contact form and the admin's import upload."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


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
