"""Pages of the pledges app (mounted at /pledges/ by himitsu.web.urls; names: pledges:…)."""

from django.urls import path

from himitsu.web.pledges import views

app_name = "pledges"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("manage/", views.manage, name="list"),
    path("new/", views.issue, name="issue"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:pk>/pdf/", views.pdf, name="pdf"),
    path("<int:pk>/upload/", views.upload, name="upload"),
    path("<int:pk>/signed.pdf", views.signed, name="signed"),
    path("<int:pk>/revoke/", views.revoke, name="revoke"),
]
