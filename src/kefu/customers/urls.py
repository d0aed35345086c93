from django.urls import path

from kefu.customers import views

urlpatterns = [
    path("customers/", views.customer_list, name="customers"),
    path("customers/<int:pk>/", views.customer_detail, name="customer"),
    path("customers/<int:pk>/preferences/", views.preference_add, name="preference_add"),
    path(
        "customers/<int:pk>/preferences/<int:pref_pk>/",
        views.preference_edit,
        name="preference_edit",
    ),
    path(
        "customers/<int:pk>/preferences/<int:pref_pk>/delete/",
        views.preference_delete,
        name="preference_delete",
    ),
    path("customers/<int:pk>/notes/", views.note_add, name="customer_note_add"),
    path("customers/<int:pk>/tier/", views.tier, name="customer_tier"),
]
