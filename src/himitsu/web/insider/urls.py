"""Pages of the insider-risk analytics (mounted at /insider/ by himitsu.web.urls)."""

from django.urls import path

from himitsu.web.insider import views

app_name = "insider"
urlpatterns: list = [
    path("", views.index, name="index"),
    path("budget/", views.budget, name="budget"),
    path("score/", views.score_now, name="score"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("alerts/<int:pk>/reveal/", views.alert_reveal, name="reveal"),
]
