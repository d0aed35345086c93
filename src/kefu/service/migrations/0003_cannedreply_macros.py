# Macros: personal canned replies (owner), actions applied when used, per-owner shortcuts.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("service", "0002_sla"),
        ("staff", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="cannedreply",
            name="add_tags",
            field=models.CharField(
                blank=True,
                help_text="Comma-separated.",
                max_length=255,
                verbose_name="then add the tags",
            ),
        ),
        migrations.AddField(
            model_name="cannedreply",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                help_text="Empty: shared with every agent (of the team, if one is set).",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="macros",
                to=settings.AUTH_USER_MODEL,
                verbose_name="owner",
            ),
        ),
        migrations.AddField(
            model_name="cannedreply",
            name="set_priority",
            field=models.CharField(
                blank=True,
                choices=[
                    ("low", "Low"),
                    ("normal", "Normal"),
                    ("high", "High"),
                    ("urgent", "Urgent"),
                ],
                max_length=10,
                verbose_name="then set the priority to",
            ),
        ),
        migrations.AddField(
            model_name="cannedreply",
            name="set_status",
            field=models.CharField(
                blank=True,
                choices=[
                    ("open", "Open"),
                    ("pending", "Pending"),
                    ("on_hold", "On hold"),
                    ("solved", "Solved"),
                ],
                max_length=10,
                verbose_name="then set the status to",
            ),
        ),
        migrations.AlterField(
            model_name="cannedreply",
            name="body",
            field=models.TextField(
                help_text=(
                    "Placeholders: {{customer.name}}, {{customer.tier}}, "
                    "{{customer.preferences}}, {{conversation.reference}}, "
                    "{{conversation.subject}}, {{agent.name}}…"
                ),
                verbose_name="text",
            ),
        ),
        migrations.AlterField(
            model_name="cannedreply",
            name="shortcut",
            field=models.SlugField(
                allow_unicode=True, help_text="Typed as /…", max_length=40, verbose_name="shortcut"
            ),
        ),
        migrations.AddConstraint(
            model_name="cannedreply",
            constraint=models.UniqueConstraint(
                condition=models.Q(("owner__isnull", True)),
                fields=("shortcut",),
                name="canned_shared_shortcut_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="cannedreply",
            constraint=models.UniqueConstraint(
                fields=("owner", "shortcut"), name="canned_personal_shortcut_unique"
            ),
        ),
    ]
