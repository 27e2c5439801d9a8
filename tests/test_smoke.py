"""The app starts, pages render, the services are real."""


def test_login_page_renders(client):
    response = client.get("/login", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert b"Log in" in response.data
    french = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "Mot de passe" in french.get_data(as_text=True)


def test_register_login_logout(client, auth):
    response = auth.register()  # and its emailed link followed
    assert response.status_code == 200
    assert client.get("/today").status_code == 200
    auth.logout()
    assert client.get("/today").status_code == 302
    assert auth.login().status_code == 302
    assert client.get("/today").status_code == 200
