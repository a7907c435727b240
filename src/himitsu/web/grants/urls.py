"""Pages of the grants app (mounted at /grants/ by himitsu.web.urls)."""

from django.urls import path

from himitsu.web.grants import views

app_name = "grants"
urlpatterns: list = [
    path("secret/<int:pk>/", views.secret_grants, name="secret"),
    path("secret/<int:pk>/revoke/<int:grant_pk>/", views.grant_revoke, name="revoke"),
    path("reviews/", views.review_list, name="reviews"),
    path("reviews/<int:pk>/", views.review_detail, name="review"),
    path("reviews/<int:pk>/items/<int:item_pk>/", views.review_decide, name="decide"),
    path("reviews/<int:pk>/close/", views.review_close, name="close"),
]
