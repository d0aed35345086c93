from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LivechatConfig(AppConfig):
    name = "kefu.livechat"
    label = "livechat"
    verbose_name = _("Live chat")

    def ready(self) -> None:
        from kefu.livechat import push  # noqa: F401  (event listeners)
