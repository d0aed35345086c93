"""The demo's proactive care: a customer whose birthday is today (with a preference an agent
recorded), a birthday greeting in three languages, a VIP segment with a draft campaign, and a
follow-up a week after a repair is solved; idempotent."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from kefu.care.consent import set_consent
from kefu.care.models import (
    Campaign,
    FollowUpRule,
    Occasion,
    Purpose,
    Segment,
    Template,
    TemplateVersion,
)
from kefu.care.rendering import customer_zone
from kefu.customers.models import ContactPoint, Customer, Tier

BIRTHDAY_EMAIL = "zhangwei1985@qq.com"

BIRTHDAY = (
    (
        "zh-hans",
        "{{ name }}，生日快乐！",
        "{{ name|default:'您' }}您好：\n\n今天是您的生日，禾喜家居全体同事祝您生日快乐！"
        "{% if preference %}\n我们记得您{{ preference }}——下次来店里，茶已经备好。{% endif %}"
        "\n\n禾喜家居 客服中心",
    ),
    (
        "zh-hant",
        "{{ name }}，生日快樂！",
        "{{ name|default:'您' }}您好：\n\n今天是您的生日，禾喜家居全體同仁祝您生日快樂！"
        "{% if preference %}\n我們記得您{{ preference }}——下次來店裡，茶已經備好。{% endif %}"
        "\n\n禾喜家居 客服中心",
    ),
    (
        "en",
        "Happy birthday, {{ name }}!",
        "Dear {{ name|default:'friend' }},\n\nEveryone at Hexi Home wishes you a happy birthday!"
        "{% if preference %}\nWe remember: {{ preference }}. It will be ready at your next visit."
        "{% endif %}\n\nHexi Home customer care",
    ),
)

SPRING = (
    (
        "zh-hans",
        "{{ name }}，春季保养提醒",
        "{{ name|default:'您' }}您好：\n\n换季了，记得清洗空气净化器滤网、给扫地机器人换边刷。"
        "VIP 客户本月可预约免费上门保养。",
    ),
    (
        "zh-hant",
        "{{ name }}，春季保養提醒",
        "{{ name|default:'您' }}您好：\n\n換季了，記得清洗空氣清淨機濾網、替掃地機器人換邊刷。"
        "VIP 客戶本月可預約免費到府保養。",
    ),
    (
        "en",
        "{{ name }}, your spring care reminder",
        "Dear {{ name|default:'customer' }},\n\nSpring is here: clean the air purifier's filter "
        "and change the robot vacuum's side brush. VIP customers can book a free home visit "
        "this month.",
    ),
)

FOLLOW_UP = (
    (
        "zh-hans",
        "修好了吗？",
        "{{ name|default:'您' }}您好：上周为您处理的问题，现在一切正常吗？直接回复本邮件即可。",
    ),
    (
        "zh-hant",
        "修好了嗎？",
        "{{ name|default:'您' }}您好：上週為您處理的問題，現在一切正常嗎？直接回覆本郵件即可。",
    ),
    (
        "en",
        "Is the repair holding up?",
        "Dear {{ name|default:'customer' }}, is everything still working since we fixed it "
        "last week? Just reply to this email.",
    ),
)


def _template(name: str, versions: tuple[tuple[str, str, str], ...]) -> Template:
    template, created = Template.objects.get_or_create(name=name)
    if created:
        for language, subject, body in versions:
            TemplateVersion.objects.create(
                template=template,
                language=language,
                subject=subject,
                body_text=body,
                body_html="".join(f"<p>{line}</p>" for line in body.split("\n") if line),
            )
    return template


def ensure_care_demo(username: str) -> None:
    with transaction.atomic():
        birthday = _template("生日祝福 Birthday", BIRTHDAY)
        Occasion.objects.get_or_create(
            kind=Occasion.Kind.BIRTHDAY,
            defaults={"template": birthday, "send_hour": 9, "active": True},
        )
        FollowUpRule.objects.get_or_create(
            name="修好了吗？ Is the repair holding up?",
            defaults={
                "days": 7,
                "template": _template("回访 Follow-up", FOLLOW_UP),
                "kinds": ["after_sales", "incident"],
            },
        )
        segment, _ = Segment.objects.get_or_create(
            name="VIP 与大客户 VIP and key accounts",
            defaults={"rules": {"tiers": [Tier.VIP, Tier.KEY_ACCOUNT]}},
        )
        if not Campaign.objects.filter(segment=segment).exists():
            Campaign.objects.create(
                name="春季保养提醒 Spring care",
                template=_template("春季保养提醒 Spring care", SPRING),
                segment=segment,
                purpose=Purpose.MARKETING,
                rate_per_minute=120,
                created_by=get_user_model()._default_manager.filter(username=username).first(),
            )
        # The VIPs signed up for news at the store; the birthday customer's birthday is today.
        for customer in Customer.objects.filter(tier__in=[Tier.VIP, Tier.KEY_ACCOUNT]):
            if not customer.consent_marketing:
                set_consent(customer, Purpose.MARKETING, granted=True, source="demo: store sign-up")
        point = ContactPoint.objects.filter(kind="email", value=BIRTHDAY_EMAIL).first()
        if point is not None:
            customer = point.customer
            today = timezone.now().astimezone(customer_zone(customer)).date()
            born = customer.birthday
            if born is None or (born.month, born.day) != (today.month, today.day):
                year = born.year if born else 1985
                day = (
                    today.replace(year=year)
                    if not (today.month == 2 and today.day == 29)
                    else today
                )
                Customer.objects.filter(pk=customer.pk).update(birthday=day)
            if not customer.consent_marketing:
                set_consent(customer, Purpose.MARKETING, granted=True, source="demo: store sign-up")
