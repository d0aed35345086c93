"""Customer list, customer page and the memory panel (HTMX fragments)."""

from __future__ import annotations

import pytest

from kefu.conversations import actions as conversation_actions
from kefu.customers import actions
from kefu.customers.models import Customer, CustomerNote, Preference, Tier
from kefu.customers.models import TimelineEntry as T
from tests.factories import CustomerFactory, make_conversation

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def wang(db):
    customer = CustomerFactory(name="Wang Fang", email="wang@example.com")
    actions.add_contact_point(customer, kind="phone", value="138 0013 8000", actor=None)
    return customer


@pytest.fixture
def li(db):
    return CustomerFactory(name="Li Lei", email="li@example.com", tier=Tier.VIP)


def listed(response) -> set[int]:
    return {c.pk for c in response.context["customers"]}


def test_customer_list_search(client_x, wang, li):
    assert listed(client_x.get("/customers/")) == {wang.pk, li.pk}
    assert listed(client_x.get("/customers/", {"q": "wang"})) == {wang.pk}
    assert listed(client_x.get("/customers/", {"q": "13800138000"})) == {wang.pk}
    assert listed(client_x.get("/customers/", {"q": "li@example"})) == {li.pk}
    assert listed(client_x.get("/customers/", {"tier": "vip"})) == {li.pk}
    assert listed(client_x.get("/customers/", {"q": "nobody"})) == set()


def test_customer_list_search_with_several_contact_points_lists_once(client_x, wang):
    response = client_x.get("/customers/", {"q": "example"})
    assert [c.pk for c in response.context["customers"]] == [wang.pk]


def test_customer_list_hides_merged_and_htmx_gives_rows(client_x, agent_x, wang, li):
    actions.merge_customers(li, wang, actor=agent_x)
    assert listed(client_x.get("/customers/")) == {wang.pk}
    response = client_x.get("/customers/", {"q": "wang"}, **HX)
    html = response.content.decode()
    assert "<html" not in html
    assert "Wang Fang" in html


def test_customer_page(client_x, agent_x, wang):
    actions.set_preference(wang, actor=agent_x, value="calls after 18:00")
    actions.add_note(wang, actor=agent_x, body="Very patient")
    response = client_x.get(f"/customers/{wang.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Wang Fang", "+8613800138000", "calls after 18:00", "Very patient"):
        assert text in html
    assert client_x.get("/customers/999999/").status_code == 404


def test_merged_customer_page_redirects_to_survivor(client_x, agent_x, wang, li):
    actions.merge_customers(li, wang, actor=agent_x)
    response = client_x.get(f"/customers/{li.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{wang.pk}/"


def test_customer_page_hides_conversations_of_other_teams(client_x, wang, team_y):
    secret = make_conversation(wang, team=team_y, subject="Confidential escalation")
    conversation_actions.receive_message(secret, body_text="private words")
    html = client_x.get(f"/customers/{wang.pk}/").content.decode()
    assert "Confidential escalation" not in html
    assert "private words" not in html
    assert f"/c/{secret.pk}/" not in html


def test_pages_need_an_agent(client, wang):
    response = client.get(f"/customers/{wang.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    response = client.post(f"/customers/{wang.pk}/preferences/", {"value": "x"})
    assert response.status_code == 302
    assert not Preference.objects.exists()


# --- memory through the pages ------------------------------------------------------------


def test_preference_add_with_htmx_returns_memory_fragment(client_x, agent_x, wang):
    response = client_x.post(
        f"/customers/{wang.pk}/preferences/", {"value": "drinks tea", "kind": "personal"}, **HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="memory"' in html
    assert "<html" not in html
    assert "drinks tea" in html
    pref = Preference.objects.get(customer=wang)
    assert (pref.value, pref.kind, pref.author) == ("drinks tea", "personal", agent_x)
    assert T.objects.filter(customer=wang, kind="preference_added").exists()


def test_preference_add_without_htmx_redirects(client_x, wang):
    response = client_x.post(f"/customers/{wang.pk}/preferences/", {"value": "drinks tea"})
    assert response.status_code == 302
    assert response["Location"] == f"/customers/{wang.pk}/"
    assert Preference.objects.get(customer=wang).kind == Preference.Kind.OTHER


@pytest.mark.parametrize(
    "data",
    [{"value": ""}, {"value": "   "}, {"value": "ok", "kind": "astrology"}, {"value": "x" * 256}],
)
def test_preference_add_bad_input_is_400_and_creates_nothing(client_x, wang, data):
    response = client_x.post(f"/customers/{wang.pk}/preferences/", data, **HX)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="error"' in html
    assert 'id="memory"' in html
    assert response["HX-Reswap"] == "outerHTML"
    assert not Preference.objects.exists()
    assert not T.objects.filter(kind="preference_added").exists()


def test_preference_empty_value_error_text(client_x, wang):
    response = client_x.post(f"/customers/{wang.pk}/preferences/", {"value": ""}, **HX)
    assert "a preference cannot be empty" in response.content.decode()


def test_preference_edit_form_and_save(client_x, agent_x, wang):
    pref = actions.set_preference(wang, actor=agent_x, value="drinks tea")
    url = f"/customers/{wang.pk}/preferences/{pref.pk}/"
    form = client_x.get(url, **HX)
    assert form.status_code == 200
    html = form.content.decode()
    assert f'id="pref-{pref.pk}"' in html
    assert 'value="drinks tea"' in html
    response = client_x.post(url, {"value": "drinks coffee", "kind": "personal"}, **HX)
    assert response.status_code == 200
    assert "drinks coffee" in response.content.decode()
    pref.refresh_from_db()
    assert (pref.value, pref.kind) == ("drinks coffee", "personal")


def test_preference_edit_empty_is_400_and_keeps_value(client_x, agent_x, wang):
    pref = actions.set_preference(wang, actor=agent_x, value="drinks tea")
    response = client_x.post(f"/customers/{wang.pk}/preferences/{pref.pk}/", {"value": " "}, **HX)
    assert response.status_code == 400
    assert "cannot be empty" in response.content.decode()
    pref.refresh_from_db()
    assert pref.value == "drinks tea"
    assert not T.objects.filter(kind="preference_changed").exists()


def test_preference_delete(client_x, agent_x, wang):
    pref = actions.set_preference(wang, actor=agent_x, value="drinks tea")
    response = client_x.post(f"/customers/{wang.pk}/preferences/{pref.pk}/delete/", **HX)
    assert response.status_code == 200
    assert "drinks tea" not in response.content.decode()
    assert not Preference.objects.exists()
    assert T.objects.filter(customer=wang, kind="preference_removed").exists()


def test_preference_of_another_customer_is_404(client_x, agent_x, wang, li):
    pref = actions.set_preference(li, actor=agent_x, value="li's secret")
    base = f"/customers/{wang.pk}/preferences/{pref.pk}/"
    assert client_x.get(base).status_code == 404
    assert client_x.post(base, {"value": "hijacked"}).status_code == 404
    assert client_x.post(base + "delete/").status_code == 404
    pref.refresh_from_db()
    assert (pref.customer_id, pref.value) == (li.pk, "li's secret")


def test_preference_delete_needs_post(client_x, agent_x, wang):
    pref = actions.set_preference(wang, actor=agent_x, value="drinks tea")
    assert client_x.get(f"/customers/{wang.pk}/preferences/{pref.pk}/delete/").status_code == 405
    assert Preference.objects.filter(pk=pref.pk).exists()


def test_note_add(client_x, agent_x, wang):
    response = client_x.post(f"/customers/{wang.pk}/notes/", {"body": "Birthday in May"}, **HX)
    assert response.status_code == 200
    assert "Birthday in May" in response.content.decode()
    assert CustomerNote.objects.get(customer=wang).author == agent_x


def test_note_add_empty_is_400(client_x, wang):
    response = client_x.post(f"/customers/{wang.pk}/notes/", {"body": "  "}, **HX)
    assert response.status_code == 400
    assert "a note cannot be empty" in response.content.decode()
    assert not CustomerNote.objects.exists()


def test_tier_change(client_x, wang):
    response = client_x.post(f"/customers/{wang.pk}/tier/", {"tier": "vip"}, **HX)
    assert response.status_code == 200
    assert 'id="memory"' in response.content.decode()
    assert Customer.objects.get(pk=wang.pk).tier == Tier.VIP
    response = client_x.post(f"/customers/{wang.pk}/tier/", {"tier": "key_account"})
    assert response.status_code == 302
    assert Customer.objects.get(pk=wang.pk).tier == Tier.KEY_ACCOUNT


@pytest.mark.parametrize("tier", ["", "platinum"])
def test_tier_bad_value_is_400(client_x, wang, tier):
    response = client_x.post(f"/customers/{wang.pk}/tier/", {"tier": tier}, **HX)
    assert response.status_code == 400
    assert "unknown tier" in response.content.decode()
    assert Customer.objects.get(pk=wang.pk).tier == Tier.NORMAL
    assert not T.objects.filter(kind="tier_changed").exists()


@pytest.mark.django_db
def test_search_finds_a_phone_typed_with_spaces(client, agent_x):
    from kefu.customers.actions import resolve_customer

    resolve_customer(phone="13800138000", name="号码客户")
    client.force_login(agent_x)
    for typed in ("138 0013 8000", "+86 138-0013-8000", "13800138000"):
        response = client.get("/customers/", {"q": typed})
        assert "号码客户" in response.content.decode(), typed
