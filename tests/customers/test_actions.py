"""customers.actions: identity resolution, memory, tier and merge."""

from __future__ import annotations

import pytest

from kefu.conversations.access import visible_conversations
from kefu.conversations.models import Conversation
from kefu.core.errors import ActionError
from kefu.core.events import CustomerChanged, CustomersMerged
from kefu.customers import actions
from kefu.customers.identity import normalize_phone
from kefu.customers.models import ContactPoint, Customer, CustomerNote, Preference, Tier
from kefu.customers.models import TimelineEntry as T
from tests.factories import CustomerFactory, make_conversation


def points(customer: Customer) -> set[tuple[str, str]]:
    return set(ContactPoint.objects.filter(customer=customer).values_list("kind", "value"))


# --- identity ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("138 0013 8000", "+8613800138000"),
        ("13800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("0086 13800138000", "+8613800138000"),
        ("(+86) 138 0013 8000", "+8613800138000"),
        ("+49 30 1234567", "+49301234567"),
        ("010-12345678", "01012345678"),
    ],
)
def test_normalize_phone(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "123", "phone", "+" + "1" * 17])
def test_normalize_phone_refuses_nonsense(raw):
    with pytest.raises(ActionError):
        normalize_phone(raw)


def test_resolve_creates_a_customer_with_its_contact_points(db):
    customer = actions.resolve_customer(
        email=" Li.Lei@Example.COM ", phone="138 0013 8000", name="  Li Lei "
    )
    assert customer.name == "Li Lei"
    assert points(customer) == {("email", "li.lei@example.com"), ("phone", "+8613800138000")}
    assert T.objects.filter(customer=customer, kind="customer_created").count() == 1


def test_resolve_email_is_case_insensitive(db):
    first = actions.resolve_customer(email="Wang@Example.com")
    assert actions.resolve_customer(email="WANG@example.COM").pk == first.pk
    assert Customer.objects.count() == 1


@pytest.mark.parametrize("written", ["+86 138 0013 8000", "0086-138-0013-8000", "13800138000"])
def test_resolve_phone_in_any_notation(db, written):
    first = actions.resolve_customer(phone="138 0013 8000")
    assert actions.resolve_customer(phone=written).pk == first.pk
    assert Customer.objects.count() == 1


def test_known_email_gains_the_new_phone(db):
    known = actions.resolve_customer(email="zhang@example.com", name="张伟")
    again = actions.resolve_customer(
        email="ZHANG@example.com", phone="0086 139 0000 1111", name="Somebody else"
    )
    assert again.pk == known.pk
    assert again.name == "张伟"  # an existing name is not overwritten
    assert points(known) == {("email", "zhang@example.com"), ("phone", "+8613900001111")}
    # and now the phone alone finds the same person
    assert actions.resolve_customer(phone="13900001111").pk == known.pk


def test_resolve_fills_a_missing_name(db):
    known = actions.resolve_customer(email="anon@example.com")
    assert (
        actions.resolve_customer(email="anon@example.com", name="Anon Ymous").name == "Anon Ymous"
    )
    assert Customer.objects.get(pk=known.pk).name == "Anon Ymous"


def test_resolve_follows_merges_to_the_survivor(db):
    survivor = CustomerFactory(name="Survivor", email="survivor@example.com")
    middle = CustomerFactory(name="Middle", email="middle@example.com")
    dead = CustomerFactory(name="Dead", email="dead@example.com")
    # a contact point left behind on merged customers (e.g. data from before merges moved them)
    Customer.objects.filter(pk=dead.pk).update(merged_into=middle)
    Customer.objects.filter(pk=middle.pk).update(merged_into=survivor)
    found = actions.resolve_customer(email="dead@example.com", phone="13700000000")
    assert found.pk == survivor.pk
    assert ("phone", "+8613700000000") in points(survivor)


def test_resolve_after_merge_customers_lands_on_target(agent_x):
    source = CustomerFactory(email="dup@example.com")
    target = CustomerFactory(email="main@example.com")
    actions.merge_customers(source, target, actor=agent_x)
    assert actions.resolve_customer(email="dup@example.com").pk == target.pk


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.com", "a b@c.com"])
def test_resolve_invalid_email(db, email):
    with pytest.raises(ActionError, match="email"):
        actions.resolve_customer(email=email)
    assert Customer.objects.count() == 0


def test_resolve_needs_something(db):
    with pytest.raises(ActionError):
        actions.resolve_customer(name="Only a name")


def test_resolve_visitor_id(db):
    first = actions.resolve_customer(visitor_id="v-123")
    assert actions.resolve_customer(visitor_id=" v-123 ").pk == first.pk


# --- merge -------------------------------------------------------------------------------


@pytest.fixture
def pair(agent_x, team_x):
    source = CustomerFactory(name="", tier=Tier.VIP, email="old@example.com")
    target = CustomerFactory(name="Main Record", tier=Tier.KEY_ACCOUNT, email="new@example.com")
    actions.add_contact_point(source, kind="phone", value="13800000001", actor=agent_x)
    actions.set_preference(source, actor=agent_x, value="drinks tea")
    actions.add_note(source, actor=agent_x, body="Called twice about the kettle")
    make_conversation(source, team=team_x, subject="Kettle")
    return source, target


def test_merge_moves_everything(pair, agent_x, events, django_capture_on_commit_callbacks):
    source, target = pair
    source_timeline = set(T.objects.filter(customer=source).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        result = actions.merge_customers(source, target, actor=agent_x)
    source, target = Customer.objects.get(pk=source.pk), Customer.objects.get(pk=target.pk)
    assert result.pk == target.pk
    assert source.merged_into_id == target.pk
    assert points(source) == set()
    assert points(target) == {
        ("email", "old@example.com"),
        ("email", "new@example.com"),
        ("phone", "+8613800000001"),
    }
    assert Conversation.objects.filter(customer=source).count() == 0
    assert list(target.conversations.values_list("subject", flat=True)) == ["Kettle"]
    assert list(target.preferences.values_list("value", flat=True)) == ["drinks tea"]
    assert list(target.notes.values_list("body", flat=True)) == ["Called twice about the kettle"]
    assert T.objects.filter(customer=source).count() == 0
    assert source_timeline <= set(T.objects.filter(customer=target).values_list("pk", flat=True))
    assert T.objects.filter(
        customer=target, kind="customer_merged", data__source_id=source.pk
    ).exists()
    assert target.tier == Tier.VIP  # the higher tier wins
    assert target.name == "Main Record"
    [event] = events.of(CustomersMerged)
    assert (event.customer_id, event.source_id) == (target.pk, source.pk)


def test_merge_keeps_the_higher_tier_of_the_target(agent_x):
    source = CustomerFactory(tier=Tier.NORMAL)
    target = CustomerFactory(tier=Tier.KEY_ACCOUNT)
    actions.merge_customers(source, target, actor=agent_x)
    assert Customer.objects.get(pk=target.pk).tier == Tier.KEY_ACCOUNT


def test_merge_fills_blank_fields_from_the_source(agent_x, team_x):
    source = CustomerFactory(name="Has Name", team=team_x, owner=agent_x, language="en")
    target = CustomerFactory(name="")
    actions.merge_customers(source, target, actor=agent_x)
    target = Customer.objects.get(pk=target.pk)
    assert (target.name, target.team, target.owner, target.language) == (
        "Has Name",
        team_x,
        agent_x,
        "en",
    )


def test_merge_refusals(agent_x):
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    with pytest.raises(ActionError, match="itself"):
        actions.merge_customers(a, a, actor=agent_x)
    actions.merge_customers(a, b, actor=agent_x)
    with pytest.raises(ActionError, match="already merged"):
        actions.merge_customers(a, c, actor=agent_x)
    assert Customer.objects.get(pk=a.pk).merged_into_id == b.pk


def test_merge_into_a_merged_customer_does_not_strand_data(agent_x, team_x):
    """Regression: the target is checked too (refused, or followed to the survivor)."""
    survivor, dead, source = CustomerFactory(), CustomerFactory(), CustomerFactory()
    actions.merge_customers(dead, survivor, actor=agent_x)
    conversation = make_conversation(source, team=team_x)
    try:
        result = actions.merge_customers(source, dead, actor=agent_x)
    except ActionError:
        assert Conversation.objects.get(pk=conversation.pk).customer_id == source.pk
    else:
        assert result.pk == survivor.pk
        assert Conversation.objects.get(pk=conversation.pk).customer_id == survivor.pk


def test_portal_user_keeps_seeing_their_conversations_after_a_merge(agent_x, customer_user_factory):
    user, duplicate = customer_user_factory("portal")
    conversation = make_conversation(duplicate)
    main = CustomerFactory()
    assert set(visible_conversations(user)) == {conversation}
    actions.merge_customers(duplicate, main, actor=agent_x)
    user.refresh_from_db()
    assert set(visible_conversations(user)) == {conversation}


def test_both_portal_users_keep_seeing_their_conversations_after_a_merge(
    agent_x, customer_user_factory
):
    user_a, customer_a = customer_user_factory("portal.a")
    user_b, customer_b = customer_user_factory("portal.b")
    conversation_a = make_conversation(customer_a)
    conversation_b = make_conversation(customer_b)
    actions.merge_customers(customer_a, customer_b, actor=agent_x)
    user_a.refresh_from_db()
    user_b.refresh_from_db()
    assert set(visible_conversations(user_b)) == {conversation_a, conversation_b}
    assert conversation_a in set(visible_conversations(user_a))


# --- memory, notes, tier -----------------------------------------------------------------


def test_preference_add_edit_remove_with_timeline(
    customer, agent_x, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        pref = actions.set_preference(
            customer, actor=agent_x, value="  drinks tea ", kind=Preference.Kind.PERSONAL
        )
        assert (pref.value, pref.kind, pref.author) == ("drinks tea", "personal", agent_x)
        actions.set_preference(
            customer,
            actor=agent_x,
            value="drinks green tea",
            kind=Preference.Kind.PERSONAL,
            preference=pref,
        )
        pref.refresh_from_db()
        assert pref.value == "drinks green tea"
        actions.remove_preference(pref, actor=agent_x)
    assert not Preference.objects.filter(customer=customer).exists()
    entries = list(
        T.objects.filter(customer=customer, kind__startswith="preference_")
        .order_by("id")
        .values_list("kind", "data")
    )
    assert entries == [
        ("preference_added", {"kind": "personal", "value": "drinks tea"}),
        ("preference_changed", {"old": "drinks tea", "value": "drinks green tea"}),
        ("preference_removed", {"value": "drinks green tea"}),
    ]
    assert [e.what for e in events.of(CustomerChanged)] == ["memory"] * 3


@pytest.mark.parametrize(
    "kwargs", [{"value": "  "}, {"value": "x" * 256}, {"value": "ok", "kind": "astrology"}]
)
def test_preference_refuses_bad_input(customer, agent_x, kwargs):
    with pytest.raises(ActionError):
        actions.set_preference(customer, actor=agent_x, **kwargs)
    assert not Preference.objects.exists()


def test_preference_of_another_customer_cannot_be_edited(customer, agent_x):
    other = CustomerFactory()
    pref = actions.set_preference(other, actor=agent_x, value="likes calls")
    with pytest.raises(ActionError, match="another customer"):
        actions.set_preference(customer, actor=agent_x, value="hijacked", preference=pref)
    pref.refresh_from_db()
    assert (pref.customer_id, pref.value) == (other.pk, "likes calls")


def test_add_note(customer, agent_x):
    note = actions.add_note(customer, actor=agent_x, body="  Prefers WeChat \n")
    assert (note.body, note.author) == ("Prefers WeChat", agent_x)
    assert T.objects.filter(
        customer=customer, kind="note_added", data__excerpt="Prefers WeChat"
    ).exists()
    with pytest.raises(ActionError):
        actions.add_note(customer, actor=agent_x, body="   ")
    assert CustomerNote.objects.count() == 1


def test_set_tier(customer, agent_x, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        actions.set_tier(customer, tier=Tier.VIP, actor=agent_x)
        actions.set_tier(customer, tier=Tier.VIP, actor=agent_x)  # unchanged: nothing
    assert Customer.objects.get(pk=customer.pk).tier == Tier.VIP
    assert T.objects.filter(customer=customer, kind="tier_changed").count() == 1
    assert [e.what for e in events.of(CustomerChanged)] == ["tier"]
    with pytest.raises(ActionError, match="unknown tier"):
        actions.set_tier(customer, tier="platinum", actor=agent_x)
    assert Customer.objects.get(pk=customer.pk).tier == Tier.VIP


def test_add_contact_point_owned_by_another_customer(customer, agent_x):
    other = CustomerFactory(email="taken@example.com")
    with pytest.raises(ActionError, match="another customer"):
        actions.add_contact_point(customer, kind="email", value="TAKEN@example.com", actor=agent_x)
    assert ContactPoint.objects.get(value="taken@example.com").customer_id == other.pk
