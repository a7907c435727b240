"""Pages of the training app (mounted at /training/ by himitsu.web.urls)."""

from django.urls import path

from himitsu.web.training import views

app_name = "training"
urlpatterns: list = [
    path("", views.mine, name="mine"),
    path("courses/", views.courses, name="courses"),
    path("courses/new/", views.course_edit, name="course-create"),
    path("courses/<int:pk>/edit/", views.course_edit, name="course-edit"),
    path("record/", views.record, name="record"),
    path("overdue/", views.overdue, name="overdue"),
]
