"""Knowledge-base listeners: the search index follows article changes, and the search lexicon
follows the admin's dictionary words and synonyms."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from kefu.core.events import ArticleChanged, listen
from kefu.kb.models import Article, DictionaryWord, Synonym
from kefu.kb.search import index_article, reindex, remove_article
from kefu.kb.text import lexicon_changed


@listen(ArticleChanged)
def index_on_change(event: ArticleChanged) -> None:
    """Emitted after commit: (re)index a published article, drop any other from the index."""
    article = Article.objects.select_related("group__category").filter(pk=event.article_id).first()
    if article is None or event.status == "deleted":
        remove_article(event.article_id)
    else:
        index_article(article)


@receiver(post_save, sender=Synonym)
@receiver(post_delete, sender=Synonym)
def synonyms_changed(sender: type, **kwargs: object) -> None:
    # Synonyms expand the query only, so no article needs reindexing.
    transaction.on_commit(lexicon_changed)


@receiver(post_save, sender=DictionaryWord)
@receiver(post_delete, sender=DictionaryWord)
def dictionary_changed(sender: type, instance: DictionaryWord, **kwargs: object) -> None:
    """A new or removed word changes how text is cut: reload the lexicon, then re-segment the
    published articles that contain the word."""

    def apply() -> None:
        lexicon_changed()
        word = instance.word
        reindex(
            Article.objects.select_related("group__category").filter(
                Q(title__icontains=word)
                | Q(body_text__icontains=word)
                | Q(alternatives__icontains=word),
                status=Article.Status.PUBLISHED,
            )
        )

    transaction.on_commit(apply)
