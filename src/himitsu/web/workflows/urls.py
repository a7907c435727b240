"""Pages of the workflows app (mounted at /workflows/ by himitsu.web.urls)."""

from django.urls import path

from himitsu.web.workflows import views

app_name = "workflows"
urlpatterns: list = [
    path("", views.case_list, name="list"),
    path("new/", views.case_new, name="new"),
    path("<int:pk>/", views.case_detail, name="detail"),
    path("<int:pk>/complete/", views.case_complete, name="complete"),
    path("<int:pk>/cancel/", views.case_cancel, name="cancel"),
    path("<int:pk>/steps/<int:step_pk>/", views.step_complete, name="step"),
    path("<int:pk>/steps/<int:step_pk>/file", views.step_file, name="step-file"),
]
