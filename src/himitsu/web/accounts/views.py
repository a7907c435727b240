from django.contrib.auth.views import LoginView


class HimitsuLoginView(LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True
