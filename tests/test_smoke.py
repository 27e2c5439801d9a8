"""The app starts, pages render, the services are real."""


def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Log in" in response.data or b"Connexion" in response.data


def test_register_login_logout(client, auth):
    response = auth.register()
    assert response.status_code == 302
    assert client.get("/today").status_code == 200
    auth.logout()
    assert client.get("/today").status_code == 302
    assert auth.login().status_code == 302
    assert client.get("/today").status_code == 200
