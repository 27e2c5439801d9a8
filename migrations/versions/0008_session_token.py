"""session token (issue 14): a random secret per account in every session cookie

Revision ID: 0008_session_token
Revises: 0007_account_security
Create Date: 2026-12-07 23:10:00

Replaces the counter ``session_version``: logout, password change and reset, and
sign-in links replace the token, so a cookie captured before stops working. Every
existing account gets its own random token (its sessions are logged out once).
"""

import secrets

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "0008_session_token"
down_revision = "0007_account_security"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
    account = sa.table("account", sa.column("id", sa.Integer), sa.column("session_token", sa.String))
    connection = op.get_bind()
    for (account_id,) in connection.execute(sa.select(account.c.id)).all():
        connection.execute(
            account.update()
            .where(account.c.id == account_id)
            .values(session_token=secrets.token_urlsafe(32))
        )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("session_version")


def downgrade():
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.drop_column("session_token")
    with op.batch_alter_table("account", schema=None) as batch_op:
        # As 0001 made it: no server default.
        batch_op.alter_column("session_version", existing_type=sa.Integer(), server_default=None)
