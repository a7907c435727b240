import pytest


@pytest.mark.parametrize("who", ["admin", "manager", "devlead", "alice", "auditor"])
def test_pages_render(org, login, who):
    c = login(who)
    for url in ["/", "/register/", "/levels/"]:
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code)


def test_people_pages_edited_by_admin_only(org, login):
    from himitsu.web.accounts.models import User

    c = login("admin")
    assert c.get("/people/").status_code == 200
    r = c.post("/people/users/new/", {"username": "newbie", "display_name": "新人", "role": "employee",
                                      "department": org.dev.pk, "is_active": "on", "password": "Newbie-pass-2026",
                                      "groups": [org.group.pk]})
    assert r.status_code == 302, r.content.decode()[:2000]
    newbie = User.objects.get(username="newbie")
    assert newbie.check_password("Newbie-pass-2026") and newbie.access_groups.filter(pk=org.group.pk).exists()
    r = c.post("/people/users/new/", {"username": "weak", "role": "employee", "password": "123"})
    assert r.status_code == 400
    r = c.post(f"/people/groups/{org.group.pk}/", {"name": org.group.name, "members": [newbie.pk]})
    assert r.status_code == 302
    for who in ("manager", "devlead", "alice", "auditor"):
        c = login(who)
        listing = c.get("/people/")
        assert listing.status_code == (200 if who == "manager" else 403)  # trade-secret managers read the list
        if who == "manager":
            page = listing.content.decode()
            assert "/people/users/new/" not in page and f"/people/users/{newbie.pk}/" not in page
            assert f"/people/{newbie.pk}/" in page  # the person's page, not the account form
        assert c.post("/people/users/new/", {"username": "x", "role": "system_admin",
                                             "password": "Hacker-pass-2026"}).status_code == 403
    assert not User.objects.filter(username="x").exists()
