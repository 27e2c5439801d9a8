"""Rate-limit keys of the logged-in owner: built from the account's id, never from
``current_user.get_id()`` (which carries the secret session token and changes at
every login, so a cap keyed on it would reset by logging out and in)."""

from flask_login import current_user


def account_key(prefix: str = "account") -> str:
    account_id = current_user.id if current_user.is_authenticated else "anon"
    return f"{prefix}:{account_id}"
