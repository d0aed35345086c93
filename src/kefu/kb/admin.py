from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from kefu.kb.models import DictionaryWord, SearchLog, Synonym

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
