"""Pages of the outbound guard (mounted at /guard/ by himitsu.web.urls)."""

from django.urls import path

from himitsu.web.guard import views

app_name = "guard"
urlpatterns: list = [
    path("", views.policy, name="policy"),
    path("try/", views.policy_try, name="try"),
    path("rules/new/", views.rule_new, name="rule-new"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule-edit"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule-delete"),
    path("rules/<int:pk>/change/", views.rule_change, name="rule-change"),
    path("exceptions/new/", views.allowance_new, name="allowance-new"),
    path("exceptions/<int:pk>/edit/", views.allowance_edit, name="allowance-edit"),
    path("exceptions/<int:pk>/delete/", views.allowance_delete, name="allowance-delete"),
    path("exceptions/<int:pk>/change/", views.allowance_change, name="allowance-change"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("decisions/", views.decision_list, name="decisions"),
    path("quarantine/", views.quarantine_list, name="quarantine"),
    path("quarantine/<int:pk>/", views.quarantine_item, name="quarantine-item"),
    path("quarantine/<int:pk>/open/", views.quarantine_open, name="quarantine-open"),
    path("quarantine/<int:pk>/release/", views.quarantine_release, name="quarantine-release"),
    path("quarantine/<int:pk>/reject/", views.quarantine_reject, name="quarantine-reject"),
]
