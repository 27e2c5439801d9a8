"""The one itsdangerous serializer of Relance's signed links (sign-in, confirmation,
password reset, address verification): signed with ``SECRET_KEY``, its age measured
on app/clock.py like every other time in Relance."""

from flask import current_app
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from . import clock


class _ClockSigner(TimestampSigner):
    def get_timestamp(self):
        return int(clock.now().timestamp())


class _ClockSerializer(URLSafeTimedSerializer):
    default_signer = _ClockSigner


def serializer(salt: str) -> URLSafeTimedSerializer:
    return _ClockSerializer(current_app.config["SECRET_KEY"], salt=salt)
