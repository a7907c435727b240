import pytest


@pytest.mark.parametrize("who", ["admin", "manager", "devlead", "alice", "auditor"])
def test_pages_render(org, login, who):
    c = login(who)
    for url in ["/", "/register/", "/levels/"]:
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code)
