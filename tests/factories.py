"""One factories module for the whole suite (factory-boy)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from kefu.conversations import actions
from kefu.conversations.models import Channel, Conversation
from kefu.customers.models import ContactPoint, Customer, Organization, Tier
from kefu.staff.models import AgentProfile, Team

User = get_user_model()
PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


def make_agent(username: str, *teams: Team, role: str = AgentProfile.Role.AGENT, **kw) -> User:
    """An active agent in ``teams``; superusers get ``is_staff`` for the admin."""
    user = UserFactory(username=username, **kw)
    profile, _ = AgentProfile.objects.get_or_create(user=user, defaults={"role": role})
    profile.teams.set(teams)
    return user


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Customer {n}")
    tier = Tier.NORMAL

    @factory.post_generation
    def email(obj, create, extracted, **kwargs):
        if create:
            ContactPoint.objects.create(
                customer=obj, kind="email", value=extracted or f"customer{obj.pk}@example.com"
            )


def make_conversation(
    customer: Customer | None = None,
    *,
    team: Team | None = None,
    subject: str = "Where is my order?",
    body: str = "Hello, my order has not arrived.",
    channel: str = Channel.WEB,
    **kw,
) -> Conversation:
    """A conversation opened through the one door, as a channel would."""
    return actions.open_conversation(
        customer=customer or CustomerFactory(),
        channel=channel,
        subject=subject,
        body_text=body,
        team=team,
        **kw,
    )
