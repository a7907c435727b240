from django.urls import path

from himitsu.web.notices import views

urlpatterns = [
    path("", views.notice_list, name="notice-list"),
    path("<int:pk>/read/", views.notice_read, name="notice-read"),
]
