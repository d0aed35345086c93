from django.urls import path

from kefu.service import macro_views, rules_views, views

urlpatterns = [
    path("canned/", views.canned, name="canned_replies"),
    path("canned/<int:pk>/use/", macro_views.canned_use, name="canned_use"),
    path("macros/", macro_views.macro_list, name="macros"),
    path("macros/new/", macro_views.macro_edit, name="macro_new"),
    path("macros/<int:pk>/", macro_views.macro_edit, name="macro_edit"),
    path("macros/<int:pk>/delete/", macro_views.macro_delete, name="macro_delete"),
    path("service/rules/test/", rules_views.rules_test, name="rules_test"),
]
