"""A starting list of complaint root causes (edited in the admin: Conversations → Root causes)."""

from django.db import migrations

DEFAULTS = (
    (10, "产品质量 Product quality"),
    (20, "物流配送 Delivery"),
    (30, "服务态度 Service attitude"),
    (40, "响应不及时 Slow response"),
    (50, "账单与退款 Billing and refunds"),
    (60, "政策与流程 Policy and process"),
    (100, "其他 Other"),
)


def add_defaults(apps, schema_editor):
    RootCause = apps.get_model("conversations", "RootCause")
    for position, name in DEFAULTS:
        RootCause.objects.get_or_create(name=name, defaults={"position": position})


class Migration(migrations.Migration):
    dependencies = [("conversations", "0004_complaints_links_split")]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
