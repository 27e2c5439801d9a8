"""Flask-Login wiring and the owner-checked loaders every view goes through."""

import hmac

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .extensions import db, login_manager
from .models import Account, Client, Invoice, Payment
from .parsing import MAX_ID


@login_manager.user_loader
def load_user(user_id: str):
    # "id:token" (Account.get_id): a cookie whose token was replaced (logout, password
    # change or reset) loads nobody, even though its signature is still good.
    account_id, _, token = user_id.partition(":")
    if not account_id.isascii() or not account_id.isdigit() or not token or int(account_id) > MAX_ID:
        return None
    account = db.session.get(Account, int(account_id))
    if account is None or not hmac.compare_digest(account.session_token.encode(), token.encode()):
        return None
    return account


def init_app(app):
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"


def valid_id(object_id) -> bool:
    return isinstance(object_id, int) and 0 < object_id <= MAX_ID


def _owned(model, object_id):
    """Load ``model`` by id for the current account, or 404 (never 403, never data)."""
    if not valid_id(object_id):
        abort(404)
    obj = db.session.get(model, object_id)
    if obj is None or obj.account_id != current_user.id:
        abort(404)
    return obj


def get_client(client_id: int) -> Client:
    return _owned(Client, client_id)


def get_invoice(invoice_id: int) -> Invoice:
    return _owned(Invoice, invoice_id)


def get_payment(invoice: Invoice, payment_id: int) -> Payment:
    payment = _owned(Payment, payment_id)
    if payment.invoice_id != invoice.id:
        abort(404)
    return payment
