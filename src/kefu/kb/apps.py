from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KbConfig(AppConfig):
    name = "kefu.kb"
    label = "kb"
    verbose_name = _("Knowledge base")

    def ready(self) -> None:
        # The search index follows article changes; the widget's suggestions and the email
        # acknowledgment's article links come from the knowledge base.
        from kefu.kb import listeners, suggestions  # noqa: F401
