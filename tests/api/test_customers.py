from __future__ import annotations

from kefu.core.models import Tag
from kefu.customers import actions as customer_actions
from kefu.customers.models import ContactPoint, Customer, Tier
from tests.factories import CustomerFactory


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["items"]]


def test_list_filters_and_pages(api_x):
    wang = CustomerFactory(name="王芳", email="fang@example.com", tier=Tier.VIP)
    CustomerFactory(name="Li Na", email="lina@shop.cn")
    CustomerFactory(name="Zhao", email="zhao@example.com", tier=Tier.KEY_ACCOUNT)
    wang.tags.add(Tag.objects.create(name="wholesale"))

    assert names(api_x.get("/api/customers")) == ["Li Na", "Zhao", "王芳"]
    assert names(api_x.get("/api/customers", {"q": "王"})) == ["王芳"]
    assert names(api_x.get("/api/customers", {"q": "shop.CN"})) == ["Li Na"]
    assert names(api_x.get("/api/customers", {"tier": "vip"})) == ["王芳"]
    assert names(api_x.get("/api/customers", {"tag": "Wholesale"})) == ["王芳"]

    page = api_x.get("/api/customers", {"limit": 2, "offset": 1}).json()
    assert page["count"] == 3 and page["limit"] == 2 and page["offset"] == 1
    assert [c["name"] for c in page["items"]] == ["Zhao", "王芳"]


def test_list_item_shape_and_merged_customers_are_left_out(api_x, agent_x):
    kept = CustomerFactory(name="Kept", email="kept@example.com")
    dup = CustomerFactory(name="Dup", email="dup@example.com")
    customer_actions.merge_customers(dup, kept, actor=agent_x)
    items = api_x.get("/api/customers").json()["items"]
    assert [c["name"] for c in items] == ["Kept"]
    item = items[0]
    assert item["display_name"] == "Kept"
    assert item["tier"] == "normal" and item["is_vip"] is False
    assert {c["value"] for c in item["contact_points"]} == {"kept@example.com", "dup@example.com"}


def test_create_resolves_identity_and_sets_tier(api_x):
    response = api_x.post(
        "/api/customers", {"name": "陈静", "email": "Jing@Example.com", "tier": "vip"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "陈静" and body["tier"] == "vip"
    assert body["contact_points"] == [
        {"kind": "email", "value": "jing@example.com", "verified": False}
    ]
    # The same email again lands on the same customer, and a new phone is added to it.
    again = api_x.post("/api/customers", {"email": "jing@example.com", "phone": "13800138000"})
    assert again.status_code == 201
    assert again.json()["id"] == body["id"]
    assert Customer.objects.count() == 1
    assert set(ContactPoint.objects.values_list("value", flat=True)) == {
        "jing@example.com",
        "+8613800138000",
    }


def test_create_needs_a_contact_point(api_x):
    response = api_x.post("/api/customers", {"name": "Nobody"})
    assert response.status_code == 400
    assert "email" in response.json()["detail"]
    assert not Customer.objects.exists()


def test_create_refuses_a_bad_email_and_a_bad_tier(api_x):
    response = api_x.post("/api/customers", {"email": "not-an-email"})
    assert response.status_code == 400
    assert "not a valid email" in response.json()["detail"]
    assert api_x.post("/api/customers", {"email": "a@b.cn", "tier": "gold"}).status_code == 422
    assert not Customer.objects.exists()


def test_detail_has_memory_and_notes(api_x, agent_x, customer):
    customer_actions.set_preference(customer, actor=agent_x, value="drinks tea", kind="personal")
    customer_actions.add_note(customer, actor=agent_x, body="Prefers calls after 18:00")
    response = api_x.get(f"/api/customers/{customer.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "张伟"
    assert [p["value"] for p in body["preferences"]] == ["drinks tea"]
    assert body["notes"][0]["body"] == "Prefers calls after 18:00"
    assert body["notes"][0]["author"]["username"] == "agent.x"
    assert body["contact_points"][0]["kind"] == "email"


def test_unknown_customer_is_404(api_x):
    response = api_x.get("/api/customers/987654")
    assert response.status_code == 404
    assert response.json() == {"detail": "no customer with id 987654"}
