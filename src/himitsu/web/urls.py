from django.contrib.auth import views as auth_views
from django.urls import include, path

from himitsu.web.accounts import views as account_views
from himitsu.web.accounts.views import HimitsuLoginView
from himitsu.web.api import api
from himitsu.web.audit import views as audit_views
from himitsu.web.core import views as core_views
from himitsu.web.register import io_views
from himitsu.web.register import views as register_views

urlpatterns = [
    # first: Django tries the patterns in order, and the API (the guard's check API above all) is called far more
    # often than any page; no page's path begins with api/
    path("api/v1/", api.urls),
    path("", register_views.dashboard, name="dashboard"),
    path("login/", HimitsuLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", core_views.healthz, name="healthz"),
    path("register/", register_views.secret_list, name="secret-list"),
    path("register/new/", register_views.secret_create, name="secret-create"),
    path("register/import/", io_views.register_import, name="register-import"),
    path("register/export/", io_views.register_export, name="register-export"),
    path("register/<int:pk>/", register_views.secret_detail, name="secret-detail"),
    path("register/<int:pk>/edit/", register_views.secret_edit, name="secret-edit"),
    path("register/<int:pk>/delete/", register_views.secret_delete, name="secret-delete"),
    path("register/<int:pk>/evidence/", register_views.secret_evidence, name="secret-evidence"),
    path("register/<int:pk>/history/", register_views.secret_history, name="secret-history"),
    path("register/<int:pk>/documents/", register_views.document_add, name="document-add"),
    path("register/<int:pk>/documents/<int:doc_id>/remove/", register_views.document_remove,
         name="document-remove"),
    path("levels/", register_views.level_list, name="level-list"),
    path("levels/<int:pk>/edit/", register_views.level_edit, name="level-edit"),
    path("people/", account_views.user_list, name="user-list"),
    path("people/users/new/", account_views.user_edit, name="user-create"),
    path("people/users/<int:pk>/", account_views.user_edit, name="user-edit"),
    path("people/groups/new/", account_views.group_edit, name="group-create"),
    path("people/groups/<int:pk>/", account_views.group_edit, name="group-edit"),
    path("people/import/", account_views.people_import, name="people-import"),
    path("people/<int:pk>/", account_views.person_detail, name="person-detail"),
    path("people/<int:pk>/side-jobs/", account_views.side_job_add, name="side-job-add"),
    path("people/<int:pk>/side-jobs/<int:notice_pk>/decide/", account_views.side_job_decide,
         name="side-job-decide"),
    path("audit/", audit_views.audit_list, name="audit-list"),
    path("audit/verify/", audit_views.audit_verify, name="audit-verify"),
    path("pledges/", include("himitsu.web.pledges.urls")),
    path("notices/", include("himitsu.web.notices.urls")),
    path("workflows/", include("himitsu.web.workflows.urls")),
    path("training/", include("himitsu.web.training.urls")),
    path("grants/", include("himitsu.web.grants.urls")),
    path("scans/", include("himitsu.web.scans.urls")),
    path("guard/", include("himitsu.web.guard.urls")),
    path("insider/", include("himitsu.web.insider.urls")),
]

handler400 = "himitsu.web.core.views.bad_request"
handler403 = "himitsu.web.core.views.permission_denied"
handler404 = "himitsu.web.core.views.page_not_found"
handler500 = "himitsu.web.core.views.server_error"
